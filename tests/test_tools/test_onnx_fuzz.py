"""The .onnx reader's fuzzer (tools/analysis/fuzz_onnx.py) runs with a
fixed seed for a few seconds: every case loads or is refused in one line,
no payload in a file runs, none takes longer than the bound, and memory
stays bounded."""
import json

import pytest
from conftest import ROOT, run_tool

for _module in ('onnx', 'onnxruntime'):
    pytest.importorskip(_module, reason=f'{_module} is not installed')

BUDGET_S = 4
CASE_S = 10  # a case slower than this counts as a hang
EXTRA_MIB = 400  # peak memory growth allowed over the whole run


def test_fuzzed_model_files_load_or_are_refused_in_one_line(tmp_path):
    out = tmp_path / 'summary.json'
    proc = run_tool('analysis/fuzz_onnx.py', '--seed', '0', '--budget',
                    BUDGET_S, '--case-seconds', CASE_S, '--out', out,
                    timeout=300, check=False,
                    env=dict(PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    # a crash of the interpreter (or of onnxruntime) shows as a negative
    # status; a payload that ran is a bug in the summary
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    summary = json.loads(out.read_text())
    assert summary['bugs'] == []
    assert set(summary['outcomes']) == {'loads', 'refused'}
    assert summary['cases'] >= 200
    assert set(summary['kinds']) == {'metadata', 'graph', 'bytes', 'path'}
    assert len(summary['layouts']) >= 20  # most mutations were made
    assert summary['slowest_case_s'] < CASE_S
    growth = summary['peak_rss_mib_after'] - summary['peak_rss_mib_before']
    assert growth < EXTRA_MIB, summary


def test_fuzzer_flags_a_reader_that_runs_code(tmp_path):
    """The canary works: a reader that hands the metadata to a registry,
    as the first format's did, is reported as a bug."""
    out = tmp_path / 'summary.json'
    code = f'''
import runpy, sys
from mmengine.registry import init_default_scope
from mmpose.registry import MODELS
import hih_plugin.deploy.metadata as metadata
init_default_scope('mmpose')
checked = metadata.check_metadata
def registry_reader(meta, where):
    for value in meta.values():
        if isinstance(value, dict) and 'type' in value:
            MODELS.build(value)
    return checked(meta, where)
metadata.check_metadata = registry_reader
sys.argv = ['fuzz_onnx.py', '--seed', '0', '--budget', '2', '--out',
            {str(out)!r}]
runpy.run_path('tools/analysis/fuzz_onnx.py', run_name='__main__')
'''
    proc = run_tool(None, code, timeout=300, check=False,
                    env=dict(PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-4000:]
    details = [b['detail'] for b in json.loads(out.read_text())['bugs']]
    assert any('canary' in d for d in details), details
