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

Before torchrun starts, the counts it is given (``--nproc_per_node`` from
GPUS, ``--nnodes``, ``--node_rank``, ``--master_port`` from PORT) are checked,
and torchrun's own failure to open its rendezvous port (in use, or not
allowed) ends in one ``error:`` line naming the address and port, exit 2.
"""
import re
import signal
import subprocess
import sys

# torchrun's log lines about stopping the other workers after a failure
NOISE = re.compile(r'[WE]\d{4} .*torch/distributed/elastic/.*'
                   r'(closing signal|failed \(exitcode)')
EXITCODE = re.compile(r'\s*exitcode\s*:\s*(-?\d+)')
# torchrun's own error when its rendezvous store cannot listen or connect
NETWORK = re.compile(r'torch\.distributed\.(DistNetworkError|DistStoreError)'
                     r': (.*)')
# torchrun's options that take a count, with the range each may have
RANGES = {'nproc_per_node': ('GPUS', 1, 1024), 'nnodes': ('NNODES', 1, 10**4),
          'node_rank': ('NODE_RANK', 0, 10**4 - 1),
          'master_port': ('PORT', 1, 65535)}


def check_counts(argv):
    """An error line for a count torchrun is given that is not a whole
    number in its range (``--name=value`` before the script), or None."""
    values = {}
    for arg in argv:
        if not arg.startswith('--'):
            break  # the script: its own arguments follow
        name, _, value = arg[2:].partition('=')
        if name in RANGES:
            env, low, high = RANGES[name]
            if not (value.isdigit() and low <= int(value) <= high):
                return (f'error: {env} (torchrun --{name}) is {value!r}, not '
                        f'a whole number from {low} to {high}\n')
            values[name] = int(value)
    if values.get('node_rank', 0) >= values.get('nnodes', 1):
        return (f'error: NODE_RANK {values["node_rank"]} is not below NNODES '
                f'{values.get("nnodes", 1)}\n')
    return None


def option(argv, name, default):
    """The value of torchrun's ``--name=value`` in ``argv``."""
    for arg in argv:
        if arg.startswith(f'--{name}='):
            return arg.split('=', 1)[1]
    return default


def main(argv):
    bad = check_counts(argv)
    if bad:
        sys.stderr.write(bad)
        return 2
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
            network = NETWORK.match(line)
            if network and any('torch/distributed/run.py' in h
                               for h in held):
                where = (f'{option(argv, "master_addr", "127.0.0.1")}:'
                         f'{option(argv, "master_port", "29500")}')
                sys.stderr.write(
                    f'error: torchrun cannot open its rendezvous at {where} '
                    f'({network.group(2).strip()[:200]}); set PORT (and '
                    'MASTER_ADDR) to a free port of this machine\n')
                held, status, failed = [], 2, True
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
