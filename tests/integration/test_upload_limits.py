"""Uploads are bounded however the body arrives, tokens guard the API, ranges are not amplified,
and a result streams from disk: a 1 GiB download does not grow the http-frontend's memory."""
import http.client
import json
import os
import socket
import time

from cluster import (Cluster, generate, main, multipart, peak_memory_kib, reset_peak_memory,
                     wait_for, workdir)

WORK = workdir('framepipe-limits-')
SMALL = generate(os.path.join(WORK, 'small.mp4'), 'testsrc2=size=160x120:rate=10', seconds=1)
BIG = os.path.join(WORK, 'big.mp4')
with open(BIG, 'wb') as f:
    f.write(os.urandom(600_000))
TOKEN = 'test-token-123'


def raw_request(cluster, method, path, body=b'', headers=None, chunked=False):
    connection = http.client.HTTPConnection('127.0.0.1', cluster.http_port, timeout=30)
    try:
        connection.request(method, path, body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)])
                           if chunked else body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


with Cluster(workers=1, extra=['--max-upload-bytes', '300000'], api_token=TOKEN) as cluster:
    auth = {'Authorization': f'Bearer {TOKEN}'}

    def test_api_needs_the_token():
        status, _ = raw_request(cluster, 'GET', '/api/jobs')
        assert status == 401, status
        status, _ = raw_request(cluster, 'GET', '/api/jobs', headers=auth)
        assert status == 200, status

    def test_too_large_with_content_length_and_chunked():
        with open(BIG, 'rb') as f:
            body, content_type = multipart({}, {'file': ('big.mp4', f.read())})
        headers = dict(auth, **{'Content-Type': content_type})
        status, data = raw_request(cluster, 'POST', '/api/jobs', body, headers)
        assert status == 413, (status, data[:200])
        status, data = raw_request(cluster, 'POST', '/api/jobs', body, headers, chunked=True)
        assert status == 413, (status, data[:200])

    def test_compressed_bodies_are_refused():
        with open(SMALL, 'rb') as f:
            body, content_type = multipart({}, {'file': ('small.mp4', f.read())})
        headers = dict(auth, **{'Content-Type': content_type, 'Content-Encoding': 'gzip'})
        status, _ = raw_request(cluster, 'POST', '/api/jobs', body, headers)
        assert status == 415, status

    def refused_at_the_headers(head, body_after=0):
        """Sends `head` alone: (the answer, seconds to it). Then, if asked, `body_after` bytes of
        body anyway (the server no longer reads them), and reads the answer: it must be whole."""
        with socket.create_connection(('127.0.0.1', cluster.http_port), timeout=10) as s:
            started = time.time()
            s.sendall(head)
            if body_after:
                try:
                    s.sendall(b'x' * body_after)
                except OSError:
                    pass  # a full window, or closed: the answer must still be there
            answer = b''
            while b'\r\n\r\n' not in answer or not answer.rstrip().endswith(b'}'):
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer.decode(errors='replace'), time.time() - started

    def test_refusals_come_at_the_headers_without_the_body():
        length = 250_000  # within the upload limit
        cases = [
            (401, b'', b'multipart/form-data; boundary=x', length),
            (415, b'Authorization: Bearer ' + TOKEN.encode() + b'\r\n', b'text/plain', length),
            (413, b'Authorization: Bearer ' + TOKEN.encode() + b'\r\n',
             b'multipart/form-data; boundary=x', 10_000_000),
        ]
        for status, extra, content_type, declared in cases:
            head = (b'POST /api/jobs HTTP/1.1\r\nHost: x\r\n' + extra + b'Content-Type: ' +
                    content_type + b'\r\nContent-Length: ' + str(declared).encode() +
                    b'\r\n\r\n')
            answer, seconds = refused_at_the_headers(head)
            assert answer.startswith(f'HTTP/1.1 {status}'), (status, answer[:200])
            assert seconds < 2, f'{status} came after {seconds:.1f} s: the body was waited for'
            answer, _ = refused_at_the_headers(head, body_after=length)
            assert answer.startswith(f'HTTP/1.1 {status}') and answer.rstrip().endswith('}'), \
                (status, answer[:300])
            print(f'      {status} at the headers in {seconds * 1000:.0f} ms; whole when the body '
                  f'is sent anyway')

    def finished_copy_job():
        """Uploads SMALL with the copy chain and waits for it; returns the job id."""
        with open(SMALL, 'rb') as f:
            body, content_type = multipart({'filters': 'copy'}, {'file': ('small.mp4', f.read())})
        status, data = raw_request(cluster, 'POST', '/api/jobs', body,
                                   dict(auth, **{'Content-Type': content_type}))
        assert status == 201, (status, data)
        job_id = json.loads(data)['id']
        wait_for(lambda: json.loads(raw_request(cluster, 'GET', f'/api/jobs/{job_id}',
                                                headers=auth)[1])['state'] == 'done', 60, 'done')
        return job_id

    def test_many_ranges_are_refused_and_one_is_served():
        job_id = finished_copy_job()
        path = f'/api/jobs/{job_id}/result'
        ranges = ','.join(f'{i}-{i + 1000}' for i in range(0, 20))
        status, _ = raw_request(cluster, 'GET', path, headers=dict(auth, Range=f'bytes={ranges}'))
        assert status == 416, status
        status, data = raw_request(cluster, 'GET', path, headers=dict(auth, Range='bytes=0-9'))
        assert status == 206 and len(data) == 10, (status, len(data))

    def test_a_large_result_streams_from_disk():
        job_id = finished_copy_job()
        # The result grown to 1 GiB (sparse: no disk used), as a long 4K job would make it.
        size = 1 << 30
        os.truncate(os.path.join(cluster.data_dir, 'jobs', job_id, 'output.mp4'), size)
        http_pid = cluster.role_pids('http')[0]
        reset_peak_memory(http_pid)
        before = peak_memory_kib(http_pid)
        connection = http.client.HTTPConnection('127.0.0.1', cluster.http_port, timeout=60)
        connection.request('GET', f'/api/jobs/{job_id}/result', headers=auth)
        response = connection.getresponse()
        assert response.status == 200, response.status
        received = 0
        while chunk := response.read(1 << 20):
            received += len(chunk)
        connection.close()
        grown = peak_memory_kib(http_pid) - before
        assert received == size, received
        assert grown < 64 * 1024, f'the http-frontend grew {grown} KiB serving 1 GiB'
        print(f'      1 GiB served; the http-frontend grew {grown} KiB')

    main([test_api_needs_the_token, test_refusals_come_at_the_headers_without_the_body, test_too_large_with_content_length_and_chunked,
          test_compressed_bodies_are_refused, test_many_ranges_are_refused_and_one_is_served,
          test_a_large_result_streams_from_disk])
