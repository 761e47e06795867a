"""GET /metrics: valid Prometheus text (promtool check metrics, from Debian's `prometheus`), and the
counters, gauges and histograms move as a real cluster works."""
import os
import random
import re
import shutil
import subprocess

from cluster import Cluster, generate, main, probe_frames, wait_for, workdir

WORK = workdir('framepipe-metrics-')
VIDEO = generate(os.path.join(WORK, 'in.mp4'), 'testsrc2=size=320x240:rate=25', seconds=2)
GARBAGE = os.path.join(WORK, 'garbage.mp4')
with open(GARBAGE, 'wb') as f:
    f.write(random.Random(11).randbytes(50_000))

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels)): value} from the text format (enough for our own output)."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        match = SAMPLE.match(line)
        assert match, f'unparsable sample line: {line!r}'
        labels = frozenset(LABEL.findall(match.group(3) or ''))
        samples[(match.group(1), labels)] = float(match.group(4))
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def series(samples, name):
    return {labels: v for (n, labels), v in samples.items() if n == name}


def scrape(cluster):
    code, body, headers = cluster.request('GET', '/metrics')
    assert code == 200, f'/metrics: HTTP {code}'
    content_type = headers.get('Content-Type', '')
    assert content_type.startswith('text/plain; version=0.0.4'), content_type
    return body.decode()


def promtool_check(text):
    promtool = shutil.which('promtool')
    assert promtool, 'promtool is missing: apt-get install prometheus (scripts/common.sh does)'
    result = subprocess.run([promtool, 'check', 'metrics'], input=text, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, \
        f'promtool check metrics failed ({result.returncode}): {result.stdout}{result.stderr}'


def check_histogram(samples, name, **labels):
    """Cumulative buckets in order of `le`, +Inf equal to _count; returns _count."""
    buckets = sorted(((float(dict(l)['le']), v) for l, v in series(samples, name + '_bucket').items()
                      if {k: w for k, w in l if k != 'le'} == labels), key=lambda b: b[0])
    assert buckets and buckets[-1][0] == float('inf'), f'{name}{labels}: no +Inf bucket'
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), f'{name}{labels}: buckets not cumulative: {counts}'
    count = value(samples, name + '_count', **labels)
    assert counts[-1] == count, f'{name}{labels}: +Inf bucket {counts[-1]} != _count {count}'
    assert value(samples, name + '_sum', **labels) >= 0
    return count


with Cluster(workers=1) as cluster:
    def test_fresh_cluster_metrics_pass_promtool():
        text = scrape(cluster)
        promtool_check(text)
        samples = parse(text)
        for component in ('registry', 'ventilator', 'sink'):
            assert value(samples, 'framepipe_component_up', component=component) == 1, component
        assert value(samples, 'framepipe_workers_live') == 1
        for family in ('framepipe_jobs_enqueued_total', 'framepipe_jobs_completed_total',
                       'framepipe_jobs_failed_total', 'framepipe_jobs_canceled_total',
                       'framepipe_frames_processed_total', 'framepipe_frames_in_flight',
                       'framepipe_frames_resent_total', 'framepipe_duplicates_dropped_total'):
            assert series(samples, family), f'{family} is missing'
        for family in ('framepipe_decode_seconds', 'framepipe_encode_seconds'):
            check_histogram(samples, family)
        worker = [dict(l)['worker'] for l in series(samples, 'framepipe_worker_fps')]
        assert len(worker) == 1, worker
        for family in ('framepipe_worker_cpu_percent', 'framepipe_worker_memory_bytes',
                       'framepipe_worker_frames_done_total'):
            assert value(samples, family, worker=worker[0]) >= 0, family
        assert value(samples, 'framepipe_worker_memory_bytes', worker=worker[0]) > 0

    def test_counters_and_histograms_move_with_a_job():
        frames = len(probe_frames(VIDEO))
        before = parse(scrape(cluster))
        code, job = cluster.submit(VIDEO, 'blur=sigma=2')
        assert code == 201, job
        final = cluster.wait_job(job['id'])
        assert final['state'] == 'done', final
        # The sink's and the workers' figures reach the http-frontend with their next heartbeat.
        def figures_arrived():
            samples = parse(scrape(cluster))
            return (value(samples, 'framepipe_frames_processed_total') >= frames and
                    sum(series(samples, 'framepipe_filter_seconds_count').values()) >= frames)

        wait_for(figures_arrived, 10, 'the sink and worker figures in /metrics')
        text = scrape(cluster)
        promtool_check(text)
        after = parse(text)
        assert value(after, 'framepipe_jobs_enqueued_total') >= \
            value(before, 'framepipe_jobs_enqueued_total') + 1
        assert value(after, 'framepipe_jobs_completed_total') >= 1
        assert value(after, 'framepipe_jobs', state='done') >= 1
        assert value(after, 'framepipe_frames_processed_total') >= frames, \
            value(after, 'framepipe_frames_processed_total')
        assert value(after, 'framepipe_frames_in_flight') >= 0
        assert check_histogram(after, 'framepipe_decode_seconds') >= frames
        assert check_histogram(after, 'framepipe_encode_seconds') >= frames
        workers = [dict(l)['worker'] for l in series(after, 'framepipe_filter_seconds_count')]
        assert sum(check_histogram(after, 'framepipe_filter_seconds', worker=w)
                   for w in workers) >= frames
        assert sum(series(after, 'framepipe_worker_frames_done_total').values()) >= frames
        assert value(after, 'framepipe_http_requests_total', method='POST', route='/api/jobs',
                     status='201') >= 1
        assert value(after, 'framepipe_http_requests_total', method='GET',
                     route='/api/jobs/{id}', status='200') >= 1

    def test_failed_jobs_are_counted():
        before = value(parse(scrape(cluster)), 'framepipe_jobs_failed_total')
        code, job = cluster.submit(GARBAGE, 'copy')
        assert code == 201, job
        final = cluster.wait_job(job['id'], 60)
        assert final['state'] == 'failed', final
        after = parse(scrape(cluster))
        assert value(after, 'framepipe_jobs_failed_total') == before + 1
        assert value(after, 'framepipe_jobs', state='failed') >= 1

    def test_route_labels_are_patterns_not_paths():
        for path in ('/no/such/page', '/api/jobs/0123456789abcdef0123456789abcdef',
                     '/api/jobs/x/result', '/assets/nope.js', '/api/jobs/%22%0a%5c/events'):
            cluster.request('GET', path)
        text = scrape(cluster)
        promtool_check(text)
        routes = {dict(l)['route'] for l in series(parse(text), 'framepipe_http_requests_total')}
        allowed = {'/', '/dashboard', '/dashboard/', '/assets/{name}', '/api/jobs',
                   '/api/jobs/{id}', '/api/jobs/{id}/result', '/api/jobs/{id}/events',
                   '/api/events', '/api/workers', '/api/filters', '/api/cluster', '/health',
                   '/metrics', 'other'}
        assert routes <= allowed, routes - allowed
        assert {'other', '/api/jobs/{id}', '/assets/{name}'} <= routes, routes

    main([test_fresh_cluster_metrics_pass_promtool, test_counters_and_histograms_move_with_a_job,
          test_failed_jobs_are_counted, test_route_labels_are_patterns_not_paths])
