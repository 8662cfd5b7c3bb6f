"""The custom_imports snippet docs/methods.md gives for mixing our parts into
one's own config, run as written: a stock MMPose config plus the snippet
builds our head, and it loads an MMEngine checkpoint (numpy arrays in its
``meta``) through our restricted loader; the snippet with
``imports=['hih_plugin']`` alone does not."""
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap

from conftest import ROOT

PAGE = osp.join(ROOT, 'docs', 'methods.md')
SECTION = '## Mixing our parts into your models'

# One fresh interpreter (the loader is process state) reads each config in
# turn, as a run does, builds its model and loads a checkpoint of it: first
# the config that registers only, then the documented one.
PROBE = r'''
import sys
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import checkpoint as ckpt
from mmengine.runner import load_checkpoint

init_default_scope('mmpose')
for config in sys.argv[1:]:
    cfg = Config.fromfile(config)  # imports custom_imports
    from mmpose.registry import MODELS
    model = MODELS.build(cfg.model)
    path = config + '.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(seed=np.array([0]))), path)
    try:
        load_checkpoint(model, path, map_location='cpu', strict=True)
        result = 'loaded'
    except Exception as e:  # the stock loader's refusal, whatever its type
        result = 'refused:' + type(e).__name__
    print(type(model.head).__name__,
          ckpt.CheckpointLoader._schemes[''].__module__, result)
'''


def documented_snippet():
    """The fenced python block of the mixing section holding
    custom_imports, dedented as a config file holds it."""
    text = open(PAGE, encoding='utf-8').read()
    section = text[text.index(SECTION):]
    section = section[:section.find('\n## ', 1)]
    blocks = re.findall(r'^( *)```python\n(.*?)^\1```', section,
                        re.M | re.S)
    found = [textwrap.dedent(code) for _, code in blocks
             if 'custom_imports' in code]
    assert len(found) == 1, 'one custom_imports snippet in the section'
    return found[0]


def test_documented_snippet_registers_our_parts_and_loads_checkpoints(
        tmp_path):
    """The documented snippet: our head builds and an MMEngine checkpoint
    loads through our restricted loader. The same snippet without its
    second import (the line the docs used to give) registers our head, but
    MMEngine's own loader, torch's weights_only loading, refuses the
    checkpoint: that is what the second import is for."""
    snippet = documented_snippet()
    alone = snippet.replace("'hih_plugin', 'hih_plugin.checkpoint.enable'",
                            "'hih_plugin'")
    assert 'checkpoint.enable' in snippet and 'checkpoint.enable' not in alone
    base = osp.join(ROOT, 'tests', 'configs', 'tiny_hrnetv2_wflw.py')
    configs = []
    for name, text in (('alone', alone), ('documented', snippet)):
        config = tmp_path / f'{name}.py'
        config.write_text(f'_base_ = [{base!r}]\n' + text +
                          "model = dict(head=dict(type='H3RHead'))\n")
        configs.append(str(config))
    env = dict(os.environ, NO_ALBUMENTATIONS_UPDATE='1',
               PYTHONPATH=os.pathsep.join(
                   [ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, '-c', PROBE, *configs],
                          cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # (MMEngine logs to stdout too)
    alone_run, documented_run = (line.split()
                                 for line in proc.stdout.splitlines()
                                 if line.startswith('H3RHead '))
    assert alone_run[:2] == ['H3RHead', 'mmengine.runner.checkpoint']
    assert alone_run[2].startswith('refused'), alone_run
    assert documented_run == [
        'H3RHead', 'hih_plugin.checkpoint.loader', 'loaded']
