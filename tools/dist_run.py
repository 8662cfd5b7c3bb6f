"""Run torchrun, and end a failed run with the workers' own error line.

    python tools/dist_run.py [torchrun arguments] SCRIPT [arguments]

``tools/dist_train.sh`` and ``tools/dist_test.sh`` start torchrun through
this. When a worker fails, torchrun prints a traceback of its own
(``ChildFailedError``) with a failure table and exits with status 1, after
the workers have already said what went wrong. This passes everything else
through, prints an ``error:`` line that several ranks printed alike once,
drops torchrun's traceback, table and failure log lines, and exits with the
status of the worker that failed first (2 for a user error), or torchrun's
own status when it reports none. Only the standard library is imported.
"""
import re
import signal
import subprocess
import sys

# torchrun's log lines about stopping the other workers after a failure
NOISE = re.compile(r'[WE]\d{4} .*torch/distributed/elastic/.*'
                   r'(closing signal|failed \(exitcode)')
EXITCODE = re.compile(r'\s*exitcode\s*:\s*(-?\d+)')


def main(argv):
    # Ctrl-C reaches torchrun too (same process group); wait for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'torch.distributed.run', *argv],
        stderr=subprocess.PIPE, text=True, errors='replace', bufsize=1)
    status, errors, held, failed = None, set(), [], False
    for line in proc.stderr:
        if failed:  # torchrun's failure table: keep only the exit status
            found = EXITCODE.match(line)
            if found and status is None and 'Root Cause' in ''.join(held):
                status = int(found.group(1))
            held.append(line)
            continue
        if held:  # inside a traceback: whose is it?
            held.append(line)
            if line[:1].isspace():
                continue
            if 'ChildFailedError' in line:
                failed, held = True, []
                continue
            sys.stderr.write(''.join(held))
            held = []
            continue
        if line.startswith('Traceback (most recent call last):'):
            held = [line]
            continue
        if line.startswith('error: '):
            if line in errors:
                continue
            errors.add(line)
        if not NOISE.match(line):
            sys.stderr.write(line)
        sys.stderr.flush()
    if not failed:
        sys.stderr.write(''.join(held))
    code = proc.wait()
    if failed and status:
        # a worker killed by a signal: the shell's 128 + signal number
        return status if status > 0 else 128 - status
    return code


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
