"""Server-Sent Events: GET /api/jobs/{id}/events delivers a job's progress in order and ends with
`end`; GET /api/events (the pages' stream for all jobs) delivers the same progress in order."""
import json
import os
import socket
import time
import urllib.error
import urllib.request

from cluster import Cluster, generate, main, workdir

WORK = workdir('framepipe-events-')
# Long enough (about 200 frames of blur) that a stream opened after the upload sees it run.
VIDEO = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=640x360:rate=25', seconds=8)
CHAIN = 'blur=sigma=4'
STREAM_TIMEOUT_S = 120
STATE_ORDER = {'queued': 0, 'running': 1, 'done': 2, 'failed': 2, 'canceled': 2}


class EventStream:
    """An open SSE response read line by line with urllib: events as (name, parsed data)."""

    def __init__(self, cluster, path):
        request = urllib.request.Request(cluster.api + path,
                                         headers={'Accept': 'text/event-stream'})
        self.response = urllib.request.urlopen(request, timeout=STREAM_TIMEOUT_S)
        self.content_type = self.response.headers.get('Content-Type', '')

    def __iter__(self):
        name, data = 'message', []
        for raw in self.response:
            line = raw.decode('utf-8').rstrip('\r\n')
            if line == '':
                if data:
                    yield name, json.loads('\n'.join(data))
                name, data = 'message', []
            elif line.startswith(':'):
                continue  # a comment (keep-alive)
            elif line.startswith('event:'):
                name = line[len('event:'):].strip()
            elif line.startswith('data:'):
                data.append(line[len('data:'):].lstrip(' '))

    def close(self):
        self.response.close()


def check_in_order(events, job_id):
    """frames_done never decreases and the state never goes back."""
    last_frames, last_state = -1, -1
    for name, data in events:
        assert data['id'] == job_id, (name, data)
        assert data['frames_done'] >= last_frames, \
            f"frames_done went from {last_frames} to {data['frames_done']}"
        assert STATE_ORDER[data['state']] >= last_state, f"state went back to {data['state']}"
        last_frames, last_state = data['frames_done'], STATE_ORDER[data['state']]


def summary(events):
    return ' '.join(f"{name}:{data['state']}:{data['frames_done']}" for name, data in events)


with Cluster(workers=1) as cluster:
    def test_job_stream_delivers_progress_in_order_and_ends():
        code, job = cluster.submit(VIDEO, CHAIN)
        assert code == 201, job
        stream = EventStream(cluster, f"/api/jobs/{job['id']}/events")
        assert stream.content_type.startswith('text/event-stream'), stream.content_type
        started = time.time()
        events = list(stream)  # the server closes the stream after `end`
        stream.close()
        assert time.time() - started < STREAM_TIMEOUT_S
        names = [name for name, _ in events]
        assert names.count('job') >= 2, f'too few job events: {summary(events)}'
        assert names[-1] == 'end' and names.count('end') == 1, summary(events)
        assert set(names) == {'job', 'end'}, summary(events)
        check_in_order(events, job['id'])
        running = [data for name, data in events if data['state'] == 'running']
        assert running, f'no running event: {summary(events)}'
        final = events[-1][1]
        assert final['state'] == 'done', final
        assert final['frames_done'] == final['frames_total'] > 0, final
        assert final['result_url'].endswith('/result'), final
        print(f'      {len(events)} events: {summary(events[:3])} ... {summary(events[-2:])}')

    def test_finished_job_stream_sends_end_at_once():
        _, jobs = cluster.json('/api/jobs')
        done = [j for j in jobs if j['state'] == 'done']
        assert done, jobs
        stream = EventStream(cluster, f"/api/jobs/{done[0]['id']}/events")
        events = list(stream)
        stream.close()
        assert [name for name, _ in events] == ['end'], summary(events)
        assert events[0][1]['state'] == 'done'

    def test_canceled_job_stream_ends_with_canceled():
        code, job = cluster.submit(VIDEO, CHAIN)
        assert code == 201, job
        stream = EventStream(cluster, f"/api/jobs/{job['id']}/events")
        events = []
        for name, data in stream:
            events.append((name, data))
            if len(events) == 1:
                code, _, _ = cluster.request('DELETE', f"/api/jobs/{job['id']}")
                assert code == 200, code
        stream.close()
        assert events[-1][0] == 'end' and events[-1][1]['state'] == 'canceled', summary(events)
        check_in_order(events, job['id'])

    def test_unknown_job_stream_is_a_json_404():
        try:
            urllib.request.urlopen(cluster.api + '/api/jobs/' + '0' * 32 + '/events', timeout=10)
            raise AssertionError('expected HTTP 404')
        except urllib.error.HTTPError as error:
            assert error.code == 404, error.code
            assert json.loads(error.read())['error'], 'no error text'

    def test_all_jobs_stream_delivers_progress_in_order():
        stream = EventStream(cluster, '/api/events')
        assert stream.content_type.startswith('text/event-stream'), stream.content_type
        code, job = cluster.submit(VIDEO, CHAIN)
        assert code == 201, job
        mine, workers_events = [], 0
        try:
            for name, data in stream:
                if name == 'workers':
                    workers_events += 1
                    assert isinstance(data['workers'], list), data
                elif name == 'job' and data.get('id') == job['id']:
                    mine.append((name, data))
                    if data['state'] in ('done', 'failed', 'canceled'):
                        break
        except socket.timeout:
            raise AssertionError(f'the stream went silent: {summary(mine)}') from None
        finally:
            stream.close()
        assert workers_events >= 1, 'no workers event'
        assert len(mine) >= 2, summary(mine)
        check_in_order(mine, job['id'])
        assert mine[-1][1]['state'] == 'done', summary(mine)

    main([test_job_stream_delivers_progress_in_order_and_ends,
          test_finished_job_stream_sends_end_at_once, test_canceled_job_stream_ends_with_canceled,
          test_unknown_job_stream_is_a_json_404, test_all_jobs_stream_delivers_progress_in_order])
