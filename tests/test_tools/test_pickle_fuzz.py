"""The structure-aware checkpoint fuzzer (tools/analysis/fuzz_checkpoints.py)
runs with a fixed seed for a few seconds: every case loads or is refused in
one line, none takes longer than the bound, and memory stays bounded."""
import json

from conftest import ROOT, run_tool

BUDGET_S = 4
CASE_S = 10  # a case slower than this counts as a hang
EXTRA_MIB = 400  # peak memory growth allowed over the whole run


def test_fuzzed_checkpoints_load_or_are_refused_in_one_line(tmp_path):
    out = tmp_path / 'summary.json'
    proc = run_tool('analysis/fuzz_checkpoints.py', '--seed', '0',
                    '--budget', BUDGET_S, '--case-seconds', CASE_S, '--out',
                    out, timeout=300, check=False,
                    env=dict(PYTHONPATH=ROOT, OMP_NUM_THREADS='1'))
    # a crash of the interpreter shows as a negative status
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    summary = json.loads(out.read_text())
    assert summary['bugs'] == []
    assert set(summary['outcomes']) == {'loads', 'refused'}
    assert summary['cases'] >= 50
    # every generator and most zip layouts were exercised
    assert set(summary['kinds']) == {'scratch', 'mutated', 'real'}
    assert len(summary['layouts']) >= 6
    assert summary['slowest_case_s'] < CASE_S
    growth = summary['peak_rss_mib_after'] - summary['peak_rss_mib_before']
    assert growth < EXTRA_MIB, summary
