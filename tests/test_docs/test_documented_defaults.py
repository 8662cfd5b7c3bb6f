"""docs/methods.md's signatures and its table of defaults by decimal_mode
match the code, so the page cannot drift from it."""
import ast
import inspect
import os.path as osp
import re

import pytest
from conftest import ROOT
from mmengine.registry import init_default_scope
from mmpose.registry import KEYPOINT_CODECS, MODELS

import hih_plugin  # noqa: F401
from hih_plugin.codecs import H3RHeatmap, HIHHeatmap
from hih_plugin.models.heads import H3RHead, HIHHead

PAGE = osp.join(ROOT, 'docs', 'methods.md')
CLASSES = {c.__name__: c for c in (HIHHeatmap, HIHHead, H3RHeatmap, H3RHead)}
# arguments whose None means "none", not "the decimal_mode's default"
NONE_MEANS_NONE = {'decoder', 'deconv_out_channels', 'init_cfg'}
SIZES = dict(input_size=(64, 64), heatmap_size=(16, 16))


def text():
    return open(PAGE, encoding='utf-8').read()


def literal(node):
    """A documented value: a Python literal, or dict(...) of literals."""
    if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'dict':
        return {kw.arg: literal(kw.value) for kw in node.keywords}
    return ast.literal_eval(node)


def documented_signature(name):
    """The parameters of the page's one `Name(...)` signature: name -> its
    default (``inspect.Parameter.empty`` when it has none), with *args and
    **kwargs as ``'*'`` and ``'**'``."""
    found = re.findall(rf'`({name}\([^`]*\))`', text())
    assert len(found) == 1, f'{name}: {len(found)} signatures on the page'
    call = ast.parse(' '.join(found[0].split()), mode='eval').body
    params = {}
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            params['*'] = inspect.Parameter.empty
        else:
            params[arg.id] = inspect.Parameter.empty
    for kw in call.keywords:
        if kw.arg is None:
            params['**'] = inspect.Parameter.empty
        else:
            params[kw.arg] = literal(kw.value)
    return params


def code_signature(cls):
    params = {}
    for p in inspect.signature(cls).parameters.values():
        key = {p.VAR_POSITIONAL: '*', p.VAR_KEYWORD: '**'}.get(p.kind, p.name)
        params[key] = p.default
    return params


@pytest.mark.parametrize('name', sorted(CLASSES))
def test_documented_signature_is_the_code_signature(name):
    assert documented_signature(name) == code_signature(CLASSES[name])


def table():
    """(class, argument) -> {'global': value, 'local': value}."""
    rows = re.findall(
        r'^\| `(\w+)` \| `(\w+)` \| `(.+?)` \| `(.+?)` \|$', text(), re.M)
    assert rows, 'no table of defaults by decimal_mode'
    return {(cls, arg): dict(
        zip(('global', 'local'),
            (literal(ast.parse(v, mode='eval').body) for v in values)))
            for cls, arg, *values in rows}


def test_table_lists_every_argument_that_defaults_by_mode():
    listed = set(table())
    for cls in (HIHHeatmap, HIHHead):
        by_mode = {
            (cls.__name__, p.name)
            for p in inspect.signature(cls).parameters.values()
            if p.default is None and p.name not in NONE_MEANS_NONE
        }
        assert by_mode == {k for k in listed if k[0] == cls.__name__}


def built(mode):
    """The codec and head that a config setting only decimal_mode gets."""
    init_default_scope('mmpose')
    codec = dict(type='HIHHeatmap', decimal_mode=mode, **SIZES)
    return KEYPOINT_CODECS.build(codec), MODELS.build(
        dict(type='HIHHead', in_channels=8, out_channels=3,
             decimal_mode=mode, decoder=codec))


def matches(value, documented):
    """An attribute equals its documented value; a built loss matches its
    documented config (type and every key)."""
    if isinstance(documented, dict):
        return type(value).__name__ == documented['type'] and all(
            getattr(value, k) == v for k, v in documented.items()
            if k != 'type')
    return value == documented


@pytest.mark.parametrize('mode', ['global', 'local'])
def test_table_defaults_are_what_the_code_builds(mode):
    codec, head = built(mode)
    modules = dict(loss=head.loss_module,
                   decimal_loss=head.decimal_loss_module)
    for (cls, arg), values in table().items():
        obj = codec if cls == 'HIHHeatmap' else head
        value = modules.get(arg, getattr(obj, arg, None))
        assert matches(value, values[mode]), (cls, arg, mode, value)
