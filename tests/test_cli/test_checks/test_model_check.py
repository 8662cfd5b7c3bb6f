"""hih_plugin.cli.checks.model: a checkpoint must fit the model exactly."""
import pytest
import torch
from torch import nn

from hih_plugin.cli.checks.model import (check_checkpoint_fits,
                                         load_checkpoint_strict)
from hih_plugin.errors import CheckpointError, UserError


def net(out=3):
    return nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4),
                         nn.Conv2d(4, out, 1))


def test_fitting_checkpoint_loads(tmp_path):
    src, dst = net(), net()
    path = tmp_path / 'ok.pth'
    # DDP-saved keys carry "module."; old BN checkpoints lack the counter
    state = {f'module.{k}': v for k, v in src.state_dict().items()
             if not k.endswith('num_batches_tracked')}
    torch.save({'state_dict': state, 'meta': {'epoch': 1}}, path)
    ckpt = load_checkpoint_strict(dst, str(path))
    assert ckpt['meta'] == {'epoch': 1}
    assert torch.equal(dst[2].weight, src[2].weight)


def test_bare_state_dict_is_accepted(tmp_path):
    path = tmp_path / 'bare.pth'
    torch.save(net().state_dict(), path)
    check_checkpoint_fits(net(), str(path))


def test_mismatch_lists_missing_unexpected_and_shapes(tmp_path):
    path = tmp_path / 'other.pth'
    other = net(out=5)
    other.add_module('extra', nn.Linear(1, 1))
    state = other.state_dict()
    del state['1.weight']
    torch.save({'state_dict': state}, path)
    with pytest.raises(UserError) as err:
        check_checkpoint_fits(net(out=3), str(path))
    msg = str(err.value)
    assert '1 missing key(s): 1.weight' in msg
    assert '2 unexpected key(s): extra.bias, extra.weight' in msg
    assert ('2 shape mismatch(es): 2.bias checkpoint (5,) vs model (3,); '
            '2.weight checkpoint (5, 4, 1, 1) vs model (3, 4, 1, 1)') in msg
    assert 'pass the config it was trained with' in msg


def test_long_lists_are_cut(tmp_path):
    path = tmp_path / 'many.pth'
    torch.save({f'w{i}': torch.zeros(1) for i in range(10)}, path)
    with pytest.raises(UserError, match=r'10 unexpected key\(s\): w0, w1, '
                       r'w2, w3, \.\.\. and 6 more'):
        check_checkpoint_fits(net(), str(path))


def test_unreadable_checkpoint_is_a_user_error(tmp_path):
    path = tmp_path / 'empty.pth'
    path.write_bytes(b'')
    with pytest.raises(UserError, match='cannot read checkpoint'):
        check_checkpoint_fits(net(), str(path))


def test_garbage_is_one_line_without_weights_only_advice(tmp_path):
    path = tmp_path / 'garbage.pth'
    path.write_bytes(b'not a zip file at all')
    with pytest.raises(CheckpointError) as err:
        check_checkpoint_fits(net(), str(path))
    msg = str(err.value)
    assert 'not a zip archive' in msg and str(path) in msg
    assert '\n' not in msg and 'weights_only' not in msg


def test_refused_global_names_the_global(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': net().state_dict(), 'x': print}, path)
    with pytest.raises(CheckpointError,
                       match='global builtins.print, which no checkpoint'):
        check_checkpoint_fits(net(), str(path))


def test_strict_load_reads_with_the_restricted_loader(tmp_path):
    """Whichever loader MMEngine has for local files, ours reads the
    weights: it refuses the file before any weight loads."""
    path = tmp_path / 'evil.pth'
    src, dst = net(), net()
    torch.save({'state_dict': src.state_dict(), 'x': print}, path)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(CheckpointError, match='global builtins.print'):
        load_checkpoint_strict(dst, str(path))
    assert all(torch.equal(v, before[k]) for k, v in dst.state_dict().items())


def test_checkpoint_without_weights_is_a_user_error(tmp_path):
    path = tmp_path / 'empty.pth'
    torch.save({'meta': {}}, path)
    with pytest.raises(UserError, match='holds no model weights'):
        check_checkpoint_fits(net(), str(path))
