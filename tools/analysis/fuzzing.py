"""The loop the file fuzzers share (``tools/analysis/fuzz_*.py``).

A fuzzer writes one case file at a time and loads it; :func:`run_case`
sorts the outcome: ``loads``, ``refused`` (a one-line ``UserError``, which
every tool prints as ``error: ...`` with exit status 2) or ``bug``
(another exception, a multi-line or unbounded message, a case over its CPU
time, or a wait 6 times as long). :func:`fuzz` runs cases for a budget of
seconds and prints a JSON summary.
"""
import argparse
import json
import os
import os.path as osp
import re
import resource
import signal
import time
from collections import Counter

from hih_plugin.cli import ArgumentParser, number
from hih_plugin.cli.outputs import check_output_file, write_text
from hih_plugin.errors import UserError


class Hang(BaseException):
    """Raised by the alarm; not an Exception, so no handler swallows it."""


def _alarm(signum, frame):
    raise Hang()


def fuzz_parser(description: str) -> argparse.ArgumentParser:
    parser = ArgumentParser(description=description)
    parser.add_argument('--seed', type=number(int, 0, 2**32 - 1), default=0)
    parser.add_argument('--budget', type=number(float, 0.1, 86400),
                        default=60, help='seconds of fuzzing')
    parser.add_argument('--case-seconds', type=number(int, 1, 3600),
                        default=10,
                        help='a case taking more CPU seconds than this, or '
                        'waiting 6 times as long, is a bug')
    parser.add_argument('--out', help='also write the summary here')
    return parser


def check_fuzz_args(args) -> None:
    """The summary path, checked before the work."""
    if args.out:
        args.out = check_output_file(args.out)


def run_case(load, case_seconds):
    """``(outcome, detail, CPU seconds)`` of calling ``load()``. The bound
    is on CPU time, which a busy machine does not stretch; a case that
    waits (a blocked read) is caught by a wall-clock alarm at 6 times it."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(6 * case_seconds)
    start = time.process_time()
    try:
        load()
        outcome, detail = 'loads', ''
    except UserError as err:  # CheckpointError is one
        msg = str(err)
        ok = '\n' not in msg and len(msg) < 2000
        outcome, detail = ('refused', msg) if ok else ('bug', msg[:300])
    except Hang:
        outcome, detail = 'bug', f'no answer within {6 * case_seconds} s'
    except BaseException as err:  # noqa: B036  every other one is a bug
        outcome, detail = 'bug', f'{type(err).__name__}: {err}'[:300]
    finally:
        signal.alarm(0)
    seconds = time.process_time() - start
    if seconds > case_seconds:
        outcome, detail = 'bug', f'took {seconds:.1f} s: {detail[:200]}'
    return outcome, detail, seconds


def reason(msg: str, suffix: str) -> str:
    """A refusal without its path and numbers, to count kinds of refusal."""
    cause = re.sub(rf'^.*?\{suffix}(: | as |\)?)', '', msg).split(';')[0]
    cause = re.sub(r"'[^']*'|\d+", '#', cause)
    return ' '.join(cause.split()[:8])


def fuzz(args, rng, tmp, path, make_case, load, check=None) -> int:
    """Fuzz for ``args.budget`` seconds: ``make_case(rng)`` writes the case
    to ``path`` and returns its ``(kind, layout)``; ``load(path)`` is what
    a tool does with it; ``check()`` names what a case must not leave
    behind (code that ran), or returns None. Prints the summary; returns
    the exit status (1 if any case was a bug)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes, kinds, layouts, reasons = Counter(), Counter(), Counter(), \
        Counter()
    bugs, slowest = [], (0.0, '')
    suffix = osp.splitext(path)[1]
    end = time.monotonic() + args.budget
    case = 0
    while time.monotonic() < end:
        kind, layout = make_case(rng)
        outcome, detail, seconds = run_case(lambda: load(path),
                                            args.case_seconds)
        left = check and check()
        if left:
            outcome, detail = 'bug', left
        outcomes[outcome] += 1
        if outcome == 'refused':
            reasons[reason(detail, suffix)] += 1
        kinds[kind] += 1
        layouts[layout] += 1
        if seconds > slowest[0]:
            slowest = (seconds, f'case {case} ({kind}, {layout})')
        if outcome == 'bug':
            keep = osp.join(tmp, f'bug-{case}{suffix}')
            if osp.lexists(path):
                os.replace(path, keep)
            bugs.append(dict(case=case, kind=kind, layout=layout,
                             detail=detail, file=keep))
        case += 1
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = dict(
        seed=args.seed, budget_s=args.budget, cases=case,
        outcomes=dict(outcomes), kinds=dict(kinds), layouts=dict(layouts),
        slowest_case_s=round(slowest[0], 3), slowest_case=slowest[1],
        peak_rss_mib_before=rss_before >> 10,
        peak_rss_mib_after=rss_after >> 10,
        refusals=dict(reasons.most_common(25)), bugs=bugs[:20])
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        write_text(args.out, text)
    return 1 if bugs else 0
