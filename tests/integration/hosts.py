"""Several hosts on one machine, for integration tests: network namespaces joined by a switch.

A Network is a context manager. It creates a switch (a namespace holding a bridge), a head and N
worker hosts, each its own network namespace with one veth link to the switch (10.X.0.1 for the
head, 10.X.0.11, .12... for the workers), and shapes the head's link in both directions with
`tc tbf` when given a rate. Commands run on a worker host in their own mount namespace with a
private tmpfs on /dev/shm, so that no host can hand another a frame by shared memory. Everything
is deleted when the block ends, even when a test fails: the namespaces (with their links) and the
processes still in them.

Needs root, iproute2 and a kernel with veth, bridge and tbf; `unavailable()` says why not.
"""
import atexit
import os
import random
import shlex
import signal
import subprocess
import time


def _run(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check)


def unavailable():
    """Why namespaces cannot be built here, or '' when they can."""
    if os.geteuid() != 0:
        return 'not root: network namespaces need CAP_SYS_ADMIN'
    for tool in ('ip', 'tc', 'unshare'):
        if subprocess.run(['which', tool], capture_output=True).returncode != 0:
            return f'{tool} is not installed'
    probe = f'fpprobe{os.getpid()}'
    made = _run('ip', 'netns', 'add', probe, check=False)
    if made.returncode != 0:
        return f'cannot create a network namespace: {made.stderr.strip()}'
    try:
        link = _run('ip', '-n', probe, 'link', 'add', 'b0', 'type', 'bridge', check=False)
        if link.returncode != 0:
            return f'cannot create a bridge: {link.stderr.strip()}'
        _run('ip', '-n', probe, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1',
             check=False)
        _run('ip', '-n', probe, 'link', 'set', 'v0', 'up', check=False)
        tbf = _run('ip', 'netns', 'exec', probe, 'tc', 'qdisc', 'add', 'dev', 'v0', 'root', 'tbf',
                   'rate', '100mbit', 'burst', '64kb', 'latency', '50ms', check=False)
        if tbf.returncode != 0:
            return f'tc tbf is not available: {tbf.stderr.strip()}'
    finally:
        _run('ip', 'netns', 'del', probe, check=False)
    return ''


class Network:
    def __init__(self, workers=2, head_rate=None):
        """`head_rate`: the head link's rate for tc tbf ('200mbit', '1gbit'); None: unshaped."""
        self.tag = f'fp{os.getpid() % 100000}{random.randint(0, 999)}'
        self.subnet = f'10.{random.randint(100, 250)}.{random.randint(0, 250)}'
        self.head = f'{self.tag}-head'
        self.switch = f'{self.tag}-sw'
        self.worker_hosts = [f'{self.tag}-w{i + 1}' for i in range(workers)]
        self.head_address = f'{self.subnet}.1'
        self.head_rate = head_rate
        self.procs = []
        self._made = []

    def __enter__(self):
        atexit.register(self._teardown)
        try:
            self._build()
        except Exception:
            self._teardown()
            raise
        return self

    def __exit__(self, *exc):
        self._teardown()
        return False

    def _namespace(self, name):
        _run('ip', 'netns', 'add', name)
        self._made.append(name)
        _run('ip', '-n', name, 'link', 'set', 'lo', 'up')

    def _build(self):
        self._namespace(self.switch)
        _run('ip', '-n', self.switch, 'link', 'add', 'br0', 'type', 'bridge')
        _run('ip', '-n', self.switch, 'link', 'set', 'br0', 'up')
        hosts = [(self.head, self.head_address)] + [
            (name, f'{self.subnet}.{11 + i}') for i, name in enumerate(self.worker_hosts)]
        for i, (host, address) in enumerate(hosts):
            self._namespace(host)
            port = f'p{i}'
            _run('ip', 'link', 'add', 'eth0', 'netns', host, 'type', 'veth', 'peer', 'name', port,
                 'netns', self.switch)
            _run('ip', '-n', self.switch, 'link', 'set', port, 'master', 'br0')
            _run('ip', '-n', self.switch, 'link', 'set', port, 'up')
            _run('ip', '-n', host, 'addr', 'add', f'{address}/24', 'dev', 'eth0')
            _run('ip', '-n', host, 'link', 'set', 'eth0', 'up')
        if self.head_rate:
            # Both directions of the head's link: its own egress, and the switch port's egress
            # towards it.
            for namespace, device in ((self.head, 'eth0'), (self.switch, 'p0')):
                _run('ip', 'netns', 'exec', namespace, 'tc', 'qdisc', 'add', 'dev', device, 'root',
                     'tbf', 'rate', self.head_rate, 'burst', '256kb', 'latency', '100ms')

    def _teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for namespace in reversed(self._made):
            self.kill_host(namespace)
            _run('ip', 'netns', 'del', namespace, check=False)
        self._made = []

    # ---- commands on hosts ----
    def on_head(self, argv):
        """argv run in the head's network namespace (sharing this machine's /dev/shm)."""
        return ['ip', 'netns', 'exec', self.head] + list(argv)

    def on_worker_host(self, host, argv):
        """argv run on a worker host: its network namespace and a mount namespace of its own with
        an empty tmpfs on /dev/shm."""
        script = 'mount -t tmpfs -o size=256m framepipe-shm /dev/shm && exec ' + shlex.join(argv)
        return ['ip', 'netns', 'exec', host, 'unshare', '--mount', '--propagation', 'private',
                'sh', '-c', script]

    def start(self, argv, log_path):
        log = open(log_path, 'w')
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def pids(self, host):
        out = _run('ip', 'netns', 'pids', host, check=False).stdout
        return [int(pid) for pid in out.split() if int(pid) != os.getpid()]  # a test may be there

    def kill_host(self, host):
        """Every process on `host` dies at once (SIGKILL), as when its power goes."""
        for pid in self.pids(host):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def freeze_host(self, host, frozen=True):
        """Every process on `host` stops (SIGSTOP) or goes on (SIGCONT)."""
        for pid in self.pids(host):
            try:
                os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
            except ProcessLookupError:
                pass

    def link_bytes(self, host='head'):
        """Bytes received and sent so far on a host's link (the head's by default)."""
        name = self.head if host == 'head' else host
        counts = []
        for direction in ('rx_bytes', 'tx_bytes'):
            out = _run('ip', 'netns', 'exec', name, 'cat',
                       f'/sys/class/net/eth0/statistics/{direction}').stdout
            counts.append(int(out))
        return tuple(counts)


def wait_gone(pids, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(os.path.exists(f'/proc/{pid}') for pid in pids):
            return True
        time.sleep(0.1)
    return False
