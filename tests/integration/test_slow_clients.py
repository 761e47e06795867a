"""Slow clients cannot stop others from being served.

The HTTP server runs here with 4 threads. Clients that dribble their headers, or their upload's
body, one byte at a time are cut off (headers: 10 s from accept, waited for by the connection gate
without a thread; body: 10 s of grace plus what the bytes received pay for at 16 KiB/s), and other
requests are answered meanwhile. One address holds at most a quarter of the threads with uploads
(here one); its next upload waits its turn without a thread. An honest upload that is slow, but not
that slow, is not cut off. Without the budgets, httplib's per-read timeout never fires for a
client sending a byte a second, and /health would never be answered. A burst of new connections
waits in a listen backlog of several hundred (httplib's own is 5).
"""
import os
import socket
import subprocess
import threading
import time
import urllib.request

from cluster import Cluster, generate, main, multipart, workdir

WORK = workdir('framepipe-slow-')
THREADS = 4
CUT_WITHIN = 30  # seconds: two 10 s budgets one after the other, plus slack for a loaded machine


def dribble(port, head, stop, results, index):
    """Sends `head`, then one byte a second until the server closes the connection."""
    opened = time.time()
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
            s.sendall(head)
            while not stop.is_set() and time.time() - opened < 60:
                try:
                    s.sendall(b'a')
                except OSError:
                    break
                s.settimeout(1)
                try:
                    if s.recv(4096) == b'':
                        break  # closed by the server (any answer first is fine too)
                except socket.timeout:
                    pass
                except OSError:
                    break
    except OSError:
        pass
    results[index] = time.time() - opened


def crowd(port, head, count):
    stop = threading.Event()
    results = [None] * count
    threads = [threading.Thread(target=dribble, args=(port, head, stop, results, i), daemon=True)
               for i in range(count)]
    for t in threads:
        t.start()
    time.sleep(1.5)  # they hold every thread now
    return stop, threads, results


def listen_backlog(port):
    """The backlog of the socket listening on `port`: the Send-Q column of `ss -ltn`."""
    out = subprocess.run(['ss', '-ltnH', f'sport = :{port}'], capture_output=True, text=True,
                         check=True).stdout
    fields = out.split()
    assert len(fields) >= 4 and fields[0] == 'LISTEN', f'ss: {out!r}'
    return int(fields[2])


def served_meanwhile(cluster):
    started = time.time()
    with urllib.request.urlopen(cluster.api + '/health', timeout=CUT_WITHIN + 10) as response:
        assert response.status in (200, 503), response.status
    return time.time() - started


def check_cut(stop, threads, results):
    for t in threads:
        t.join(CUT_WITHIN + 5)
    stop.set()
    assert all(r is not None for r in results), 'a dribbling client was never cut off'
    assert max(results) < CUT_WITHIN, f'dribbling clients held on for {max(results):.1f} s'
    return max(results)


with Cluster(workers=1, extra=['--http-threads', str(THREADS)]) as cluster:
    def test_listen_backlog_is_several_hundred():
        with open('/proc/sys/net/core/somaxconn') as f:
            expected = min(512, int(f.read()))  # the kernel caps any backlog at somaxconn
        backlog = listen_backlog(cluster.http_port)
        assert backlog >= expected, f'listen backlog {backlog}, expected >= {expected}'
        print(f'      listen backlog {backlog}')

    def test_dribbled_headers_are_cut_off():
        # Twice as many as threads: the gate waits for heads without threads.
        stop, threads, results = crowd(cluster.http_port,
                                       b'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ', 2 * THREADS)
        try:
            waited = served_meanwhile(cluster)
        finally:
            longest = check_cut(stop, threads, results)
        print(f'      /health answered after {waited:.1f} s; dribblers cut after '
              f'{longest:.1f} s at most')

    def test_dribbled_upload_bodies_are_cut_off():
        head = (b'POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; '
                b'boundary=xyz\r\nContent-Length: 1000000\r\n\r\n--xyz\r\nContent-Disposition: '
                b'form-data; name="file"; filename="a.mp4"\r\n\r\n')
        # Two: one is received (one upload at a time from an address with 4 threads), the other
        # waits its turn, then is received, and cut in its turn.
        stop, threads, results = crowd(cluster.http_port, head, 2)
        try:
            waited = served_meanwhile(cluster)
        finally:
            longest = check_cut(stop, threads, results)
        _, jobs = cluster.json('/api/jobs')
        listed = jobs if isinstance(jobs, list) else jobs.get('jobs', [])
        assert not listed, f'cut-off uploads left jobs behind: {listed}'
        print(f'      /health answered after {waited:.1f} s; dribblers cut after '
              f'{longest:.1f} s at most')

    def test_slow_honest_upload_is_served():
        source = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=320x240:rate=25',
                          seconds=4)
        with open(source, 'rb') as f:
            body, content_type = multipart({'filters': 'copy'}, {'file': ('in.mp4', f.read())})
        rate = 48 << 10  # bytes per second: three times the minimum
        with socket.create_connection(('127.0.0.1', cluster.http_port), timeout=30) as s:
            s.sendall((f'POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n'
                       f'Content-Length: {len(body)}\r\n\r\n').encode())
            started = time.time()
            for offset in range(0, len(body), 4096):
                s.sendall(body[offset:offset + 4096])
                ahead = (offset + 4096) / rate - (time.time() - started)
                if ahead > 0:
                    time.sleep(ahead)
            answer = s.recv(65536).decode(errors='replace')
        assert answer.startswith('HTTP/1.1 201'), answer[:300]
        print(f'      {len(body)} bytes at {rate >> 10} KiB/s in {time.time() - started:.1f} s: '
              f'accepted')

    main([test_listen_backlog_is_several_hundred, test_dribbled_headers_are_cut_off, test_dribbled_upload_bodies_are_cut_off,
          test_slow_honest_upload_is_served])
