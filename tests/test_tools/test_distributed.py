"""tools/dist_train.sh and tools/dist_test.sh: two CPU processes over gloo,
started by torchrun, train, save and evaluate as one run. The model trained
here is then tested by one process and published with
tools/publish_model.py (the model-zoo round trip).

The validation and test sets hold 3 samples, an odd number: with the stock
sampler (``round_up=False``) rank 0 gets two and rank 1 one; with
``round_up=True`` rank 1 also gets a padding copy of sample 0, which
MMEngine's ``collect_results`` must drop. Either way the metric must see
each sample exactly once and equal the single-process result.
"""
import glob
import hashlib
import importlib.util
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import pytest
from conftest import ROOT, fixture_dir, run_tool
from ecosystem_utils import free_port, tiny_hih_wflw

torch = pytest.importorskip('torch')
pytest.importorskip('mmpose')
if not torch.distributed.is_available() or \
        not torch.distributed.is_gloo_available():
    pytest.skip('torch.distributed with gloo is not available',
                allow_module_level=True)

N_VAL = 3
# the config imports the probe backend's module, which lives in tests/
PROBE_ENV = dict(PYTHONPATH=os.pathsep.join(
    [osp.join(ROOT, 'tests'), os.environ.get('PYTHONPATH', '')]))


def dist_tool(script, *args, timeout=480):
    """Run ``tools/<script>`` (its 2 processes) on a fresh port."""
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               PYTHONUNBUFFERED='1', **PROBE_ENV,
               # CPU processes over gloo even where a GPU is present
               CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', script), *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{script} exited {proc.returncode}\n--- stdout ---\n'
                    f'{proc.stdout[-4000:]}\n--- stderr ---\n'
                    f'{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """Two epochs of 2 iterations per rank, validating after the second."""
    root = fixture_dir('wflw')
    tmp = tmp_path_factory.mktemp('dist')
    record = tmp / 'writes.txt'
    extra = f"""
custom_imports = dict(
    imports=['hih_plugin', 'rank_probe'], allow_failed_imports=False)
train_cfg = dict(max_epochs=2, val_interval=2)
val_dataloader['dataset'] = dict(_data, indices={N_VAL})
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='NME', norm_mode='keypoint_distance'),
    dict(type='DumpResults', out_file_path={str(tmp / 'val.pkl')!r}),
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(backend_args=dict(
        backend='rank_recording', record_file={str(record)!r})))
log_level = 'DEBUG'  # makes every rank write its own log file
"""
    config = tiny_hih_wflw(tmp / 'tiny.py', root, extra)
    work_dir = tmp / 'work'
    dist_tool('dist_train.sh', config, 2, '--work-dir', work_dir)
    return dict(config=config, work_dir=work_dir, record=record, tmp=tmp)


def rank_logs(work_dir):
    logs = {}
    for path in glob.glob(str(work_dir / '*' / '*_rank*.log')):
        logs[int(path.rsplit('rank', 1)[1][:-len('.log')])] = open(
            path).read()
    return logs


def val_nme(work_dir):
    scalars = glob.glob(str(work_dir / '*' / 'vis_data' / 'scalars.json'))
    records = [json.loads(line) for line in open(scalars[0]) if line.strip()]
    return [r['NME'] for r in records if 'NME' in r]


def sample_ids(dump):
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    return [s['id'] for s in samples]


def test_both_ranks_trained(run):
    logs = rank_logs(run['work_dir'])
    assert sorted(logs) == [0, 1]
    for rank, text in logs.items():
        # 4 training samples, 2 ranks, batch 1: 2 iterations per epoch each
        assert 'Epoch(train) [2][2/2]' in text, f'rank {rank} did not train'
    assert "'backend': 'gloo'" in logs[0]


def test_checkpoints_written_by_rank_0_only(run):
    writes = [line.split(' ', 1) for line in
              open(run['record']).read().splitlines()]
    pth = [(rank, osp.basename(path)) for rank, path in writes
           if path.endswith('.pth')]
    assert {rank for rank, _ in pth} == {'0'}, pth
    # one save per epoch; MMEngine rewrites the last one once more after a
    # new best, to record the best checkpoint's path in its message hub
    assert sorted(name for _, name in pth) == [
        'best_NME_epoch_2.pth', 'epoch_1.pth', 'epoch_2.pth', 'epoch_2.pth'
    ]
    for _, name in pth:
        assert osp.isfile(run['work_dir'] / name)


def test_validation_gathers_each_sample_once(run):
    ids = sample_ids(run['tmp'] / 'val.pkl')
    assert len(ids) == N_VAL and len(set(ids)) == N_VAL, ids
    assert len(val_nme(run['work_dir'])) == 1


@pytest.fixture(scope='module')
def single(run, tmp_path_factory):
    """The trained model tested by one process: ``tools/test.py --out``.
    A fresh one, as the ranks are: a forked child's memory layout may make
    oneDNN round the last float32 digits differently."""
    tmp = tmp_path_factory.mktemp('single')
    run_tool('test.py', run['config'], run['work_dir'] / 'epoch_2.pth',
             '--work-dir', tmp / 'work', '--out', tmp / 'metrics.json',
             env=PROBE_ENV, fresh=True)
    return tmp / 'metrics.json'


def test_distributed_metrics_equal_single_process(run, single, tmp_path):
    ckpt = run['work_dir'] / 'epoch_2.pth'
    # round_up=True: rank 1 also evaluates a padding copy of sample 0
    dist = tmp_path / 'dist.json'
    dist_tool('dist_test.sh', run['config'], ckpt, 2, '--work-dir',
              tmp_path / 'd', '--out', dist, '--dump', tmp_path / 'd.pkl',
              '--cfg-options', 'test_dataloader.sampler.round_up=True')
    ids = sample_ids(tmp_path / 'd.pkl')
    assert len(ids) == N_VAL and len(set(ids)) == N_VAL, ids

    nme = json.loads(single.read_text())['NME']
    assert json.loads(dist.read_text())['NME'] == pytest.approx(nme,
                                                                rel=1e-6)
    # the validation during distributed training, on the same weights
    assert val_nme(run['work_dir'])[0] == pytest.approx(nme, rel=1e-6)


# Publishing: the model trained above, tested above, into the model zoo.

def test_publish_round_trip(run, single, tmp_path):
    modelindex = pytest.importorskip('modelindex')
    from hih_plugin.checkpoint import load_file

    out = tmp_path / 'zoo'
    proc = run_tool('publish_model.py', run['config'],
                    run['work_dir'] / 'epoch_2.pth', single, '--out-dir', out,
                    '--name', 'tiny_hih_wflw', '--metrics', 'NME',
                    '--zoo-config', 'configs/tiny_hih_wflw.py',
                    env=PROBE_ENV)
    (pth, ) = glob.glob(str(out / 'tiny_hih_wflw-*.pth'))
    assert re.fullmatch(r'tiny_hih_wflw-[0-9a-f]{8}_\d{8}\.pth',
                        osp.basename(pth))
    with open(pth, 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert osp.basename(pth).startswith(f'tiny_hih_wflw-{digest[:8]}_')
    assert 'optimizer' in proc.stdout  # reported as dropped

    ckpt = load_file(pth)
    assert set(ckpt) == {'meta', 'state_dict'}
    assert ckpt['meta']['dataset_meta']['dataset_name'] == 'wflw'

    yml = out / 'tiny_hih_wflw.yml'
    index = modelindex.load(str(yml))
    assert index.check(silent=True) == []
    (model, ) = index.models
    assert model.name == 'tiny_hih_wflw'
    assert model.in_collection == 'HIH'
    assert [c.name for c in index.collections] == ['HIH']
    assert model.weights == osp.basename(pth)
    (result, ) = model.results
    assert (result.task, result.dataset) == ('Face 2D Keypoint', 'WFLW')
    # percent, as MMPose's zoo lists NME
    nme = round(100 * json.loads(single.read_text())['NME'], 4)
    assert result.metrics == {'NME': nme}

    table = (out / 'tiny_hih_wflw.md').read_text()
    assert f'| 256x256 | {nme} |' in table
    assert 'Results on WFLW dataset' in table


def test_publish_refuses_unmeasured_metric(single, tmp_path):
    from hih_plugin.errors import UserError
    spec = importlib.util.spec_from_file_location(
        'publish_tool', osp.join(ROOT, 'tools', 'publish_model.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(UserError, match=r'metric\(s\) AUC@0.1 not in .*'
                       r'which has NME; publish only measured metrics'):
        tool.select_metrics(str(single), ['NME', 'AUC@0.1'], 4)
    # a renamed metric still takes its number from the JSON
    nme = json.loads(single.read_text())['NME']
    assert tool.select_metrics(str(single), ['NME=NME test'], 4) == [
        ('NME test', round(100 * nme, 4))]


def test_scripts_print_usage_without_arguments():
    for script in ('dist_train.sh', 'dist_test.sh'):
        proc = subprocess.run(['bash', osp.join(ROOT, 'tools', script)],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 2
        assert 'usage:' in proc.stderr
