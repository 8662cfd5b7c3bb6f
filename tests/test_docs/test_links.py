"""README.md, docs/*.md and the model zoo's pages: every relative link
resolves inside the repository (file and heading), and the README is the
front door."""
import glob
import os.path as osp
import re

import pytest
from conftest import ROOT

PAGES = [osp.join(ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(ROOT, 'docs', '*.md')))
# the model zoo's pages: their links must resolve too
ZOO_PAGES = sorted(glob.glob(osp.join(ROOT, 'model_zoo', '*', '*.md')))
LINK = re.compile(r'\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.M | re.S)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(path):
    text = FENCE.sub('', open(path, encoding='utf-8').read())
    return {
        slug(m.group(1))
        for m in re.finditer(r'^#+ (.*)$', text, re.M)
    }


def links(path):
    text = FENCE.sub('', open(path, encoding='utf-8').read())
    return [m.group(1) for m in LINK.finditer(text)]


@pytest.mark.parametrize('page', PAGES + ZOO_PAGES,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_relative_links_resolve_inside_the_repository(page):
    bad = []
    for link in links(page):
        if re.match(r'[a-z]+://', link):
            continue
        target, _, anchor = link.partition('#')
        # a link from '/' starts at the repository's root, as on GitHub
        base = ROOT if target.startswith('/') else osp.dirname(page)
        path = osp.normpath(osp.join(base, target.lstrip('/'))) \
            if target else page
        if osp.relpath(path, ROOT).startswith('..'):
            bad.append(f'{link}: outside the repository')
        elif not osp.exists(path):
            bad.append(f'{link}: no such file')
        elif anchor and anchor not in anchors(path):
            bad.append(f'{link}: no such heading')
    assert not bad, bad


def words(path):
    return len(open(path, encoding='utf-8').read().split())


def test_readme_is_a_front_door():
    """What, why, the two commands, one table of results and links to
    every page, within 200 lines."""
    text = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    assert len(text.splitlines()) <= 200
    for heading in ('## Set-up', '## Quick start', '## Methods',
                    '## Results', '## Documentation', '## Citation'):
        assert heading in text
    assert 'make test' in text and 'make quickstart' in text
    linked = set(links(PAGES[0]))
    unlinked = [osp.relpath(page, ROOT) for page in PAGES[1:]
                if osp.relpath(page, ROOT) not in linked]
    assert not unlinked, f'docs pages the README does not link: {unlinked}'
    # both papers' BibTeX
    assert 'arXiv' in text and '2104.03100' in text
    assert 'Heatmap Regression via Randomized Rounding' in text
    assert text.count('@article{') + text.count('@misc{') == 2


def test_readme_and_docs_read_in_ten_minutes():
    total = sum(words(page) for page in PAGES)
    assert total <= 9000, f'README.md and docs/*.md hold {total} words'
