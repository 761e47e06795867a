"""`framepipe bench` smoke tests: the harness on a tiny generated clip with 1 and 2 workers.

Checks that the JSON has every field with sane values, that the SVG is well-formed, that the
table is printed, that a chain without an ffmpeg equivalent is marked as such, that bad options
are refused, and that no process is left behind, even when the bench is interrupted. There is no
timing assertion: the machine may be busy with other work.
Usage: test_bench.py path/to/framepipe
"""
import json
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

from cluster import FRAMEPIPE, main, wait_for, workdir

TINY = '320x240p25:2s'  # 50 frames
CACHE = workdir('framepipe-bench-cache-')


def bench(*args, timeout=500):
    return subprocess.run([FRAMEPIPE, 'bench', '--cache-dir', CACHE, *args], capture_output=True,
                          text=True, timeout=timeout)


def number(value, low=None, high=None, what='value'):
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f'{what}: {value!r}'
    if low is not None:
        assert value >= low, f'{what} = {value}, expected >= {low}'
    if high is not None:
        assert value <= high, f'{what} = {value}, expected <= {high}'
    return value


def null_or_positive(value, what):
    assert value is None or number(value, what=what) > 0, f'{what} = {value!r}'


def processes_mentioning(*needles):
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace')
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found.append(f'{pid}: {cmdline}')
    return found


def assert_cluster_gone(base):
    left = processes_mentioning(f'127.0.0.1:{base} ', f'--zmq-port-base {base} ')
    assert not left, f'processes left behind: {left}'


def check_report(report, workers, width, height, frames):
    machine = report['machine']
    number(machine['cores'], 1, what='cores')
    assert isinstance(machine['cpu_model'], str) and machine['cpu_model'], machine
    number(machine['memory_bytes'], 1 << 28, what='memory_bytes')
    assert isinstance(machine['kernel'], str) and machine['kernel'], machine
    for key in ('load_average_start', 'load_average_end'):
        assert len(machine[key]) == 3 and all(number(v, 0) >= 0 for v in machine[key]), machine

    source = report['input']
    assert os.path.isfile(source['path']), source
    assert (source['width'], source['height'], source['frames']) == (width, height, frames), source
    number(source['duration'], 0.5 * frames / 25, 2.0 * frames / 25, 'duration')
    assert source['codec'] == 'h264' and source['pixel_format'] == 'yuv420p', source
    assert report['preset'] == 'veryfast' and report['crf'] == 20 and report['repeat'] == 1
    assert report['repeat_statistic'] in ('median', 'best'), report['repeat_statistic']
    assert isinstance(report['filters'], str)

    runs = report['runs']
    assert [run['workers'] for run in runs] == workers, runs
    for run in runs:
        what = f"{run['workers']} worker(s)"
        assert run['frames'] == frames, f"{what}: {run['frames']} frames"
        seconds = number(run['seconds'], 0.001, 300, f'{what} seconds')
        fps = number(run['fps'], 0.01, what=f'{what} fps')
        assert abs(fps * seconds - frames) < 0.01 * frames, f'{what}: fps {fps}, seconds {seconds}'
        number(run['upload_seconds'], 0, 60, f'{what} upload_seconds')
        speedup = number(run['speedup'], 0.001, what=f'{what} speedup')
        efficiency = number(run['efficiency'], 0.001, what=f'{what} efficiency')
        assert abs(efficiency - speedup / run['workers']) < 1e-6, run
        if run['workers'] == 1:
            assert abs(speedup - 1) < 1e-9 and abs(efficiency - 1) < 1e-9, run
        null_or_positive(run['decode_ms_per_frame'], f'{what} decode_ms_per_frame')
        null_or_positive(run['filter_ms_per_frame'], f'{what} filter_ms_per_frame')
        number(run['encode_ms_per_frame'], 1e-4, 10000, f'{what} encode_ms_per_frame')
        number(run['frames_in_flight_peak'], 0, 4096, f'{what} frames_in_flight_peak')
        memory = run['peak_memory_bytes']
        for role in ('registry', 'ventilator', 'sink', 'http', 'worker_max'):
            number(memory[role], 1 << 20, 8 << 30, f'{what} peak memory of {role}')
            number(run['idle_rss_bytes'][role], 1 << 20, 8 << 30, f'{what} idle memory of {role}')
        planes = width * height * 3 // 2
        links = run['wire']
        shared = links['to_sink_by_shared_memory']
        assert isinstance(shared, bool), links
        number(links['to_sink_bytes'], planes, 2 * planes, f'{what} to_sink_bytes')
        by_reference = number(links['to_worker_by_shared_memory_fraction'], 0, 1,
                              f'{what} to_worker_by_shared_memory_fraction')
        wire = number(run['bytes_per_frame_on_wire'], 0, 4 * planes, f'{what} wire')
        expected = (round(links['to_worker_bytes'] * (1 - by_reference)) +
                    (0 if shared else links['to_sink_bytes']))
        assert abs(wire - expected) <= 1, (wire, links)

    baselines = report['baselines']
    ffmpeg = baselines['ffmpeg']
    assert isinstance(ffmpeg['command'], str) and ffmpeg['command'].startswith('ffmpeg '), ffmpeg
    number(ffmpeg['seconds'], 0.001, 300, 'ffmpeg seconds')
    number(ffmpeg['fps'], 0.01, what='ffmpeg fps')
    assert isinstance(ffmpeg['equivalent_filter'], bool), ffmpeg
    single = baselines['single_process']
    number(single['seconds'], 0.001, 300, 'single-process seconds')
    number(single['fps'], 0.01, what='single-process fps')
    for key in ('decode_seconds', 'filter_seconds', 'encode_seconds'):
        number(single[key], 0, single['seconds'] + 1, f'single-process {key}')

    ratios = report['ratios']
    for key in ('best_framepipe_vs_ffmpeg', 'best_framepipe_vs_single_process',
                'one_worker_overhead_vs_ffmpeg'):
        number(ratios[key], 0.001, 1000, key)
    best = max(runs, key=lambda run: run['fps'])
    assert abs(ratios['best_framepipe_vs_ffmpeg'] - best['fps'] / ffmpeg['fps']) < 1e-6, ratios


def test_one_and_two_workers():
    out = workdir('framepipe-bench-test-')
    report_path, plot_path = os.path.join(out, 'bench.json'), os.path.join(out, 'bench.svg')
    result = bench('--generate', TINY, '--filters', 'blur=sigma=2,edges', '--workers', '1,2',
                   '--json', report_path, '--svg', plot_path, '--work-dir', os.path.join(out, 'w'))
    assert result.returncode == 0, f'exit {result.returncode}: {result.stdout}\n{result.stderr}'
    with open(report_path) as f:
        report = json.load(f)
    check_report(report, [1, 2], 320, 240, 50)
    for run in report['runs']:
        # Local workers read the ventilator's frames in shared memory (all but their first).
        assert run['wire']['to_worker_by_shared_memory_fraction'] > 0.5, run['wire']
    ffmpeg = report['baselines']['ffmpeg']
    assert ffmpeg['equivalent_filter'] is True, ffmpeg
    assert "-vf 'gblur=sigma=2,edgedetect'" in ffmpeg['command'], ffmpeg['command']
    assert ' -c:a copy ' in ffmpeg['command'], ffmpeg['command']
    for run in report['runs']:
        assert_cluster_gone(run['zmq_port_base'])

    for line in ('framepipe, 1 worker', 'framepipe, 2 workers', 'ffmpeg', 'single process'):
        assert line in result.stdout, f'{line!r} not in the table:\n{result.stdout}'
    root = ET.parse(plot_path).getroot()
    assert root.tag.endswith('svg'), root.tag
    texts = ' '.join(element.text or '' for element in root.iter() if element.tag.endswith('text'))
    assert 'ideal linear' in texts and 'ffmpeg' in texts and 'workers' in texts, texts
    assert any(element.tag.endswith('polyline') for element in root.iter()), 'no framepipe line'


def test_chain_without_ffmpeg_equivalent():
    out = workdir('framepipe-bench-test-')
    report_path = os.path.join(out, 'bench.json')
    result = bench('--generate', TINY, '--filters', 'pixelate=block=8', '--workers', '1',
                   '--json', report_path)
    assert result.returncode == 0, f'exit {result.returncode}: {result.stdout}\n{result.stderr}'
    with open(report_path) as f:
        report = json.load(f)
    ffmpeg = report['baselines']['ffmpeg']
    assert ffmpeg['equivalent_filter'] is False and ' -vf ' not in ffmpeg['command'], ffmpeg
    assert 'no equivalent filter' in ffmpeg['note'], ffmpeg['note']
    assert 'no equivalent filter' in result.stdout, result.stdout
    assert [run['workers'] for run in report['runs']] == [1]


def test_output_formats():
    """--format goes to the job and to both baselines; ffmpeg's command is built from the format
    table: WebM's VP9 options (no x264 preset), Opus for the AAC source; MP3 the sound track."""
    out = workdir('framepipe-bench-test-')
    webm = ['-c:v', 'libvpx-vp9', '-deadline:v', 'good', '-cpu-used:v', '5', '-row-mt:v', '1',
            '-crf:v', '32', '-b:v', '0', '-pix_fmt', 'yuv420p', '-c:a', 'libopus', '-b:a', '96000',
            '-ac', '1']
    mp3 = ['-vn', '-c:a', 'libmp3lame', '-b:a', '128000', '-ac', '1']
    for format_name, expected in ('webm', webm), ('mp3', mp3):
        report_path = os.path.join(out, f'{format_name}.json')
        result = bench('--generate', TINY, '--filters', 'copy', '--workers', '1', '--format',
                       format_name, '--json', report_path)
        assert result.returncode == 0, f'exit {result.returncode}: {result.stdout}\n{result.stderr}'
        with open(report_path) as f:
            report = json.load(f)
        assert report['format'] == format_name, report['format']
        assert f'into {format_name}' in result.stdout, result.stdout
        argv = report['baselines']['ffmpeg']['argv']
        source = argv.index('-i') + 2
        assert argv[source:-1] == expected, argv
        assert argv[-1].endswith(f'/ffmpeg-out.{format_name}'), argv
        single = report['baselines']['single_process']['argv']
        assert single[single.index('--format') + 1] == format_name, single
        assert single[3].endswith(f'/single-out.{format_name}'), single
        (run,) = report['runs']
        assert run['frames'] == 50 and run['fps'] > 0, run
        assert report['baselines']['single_process']['fps'] > 0, report['baselines']


def test_copy_by_shared_memory_and_over_tcp():
    """A copy job's frames skip the workers; by default they reach the sink by shared memory (no
    pixel crosses a socket), with --no-shared-memory over TCP."""
    out = workdir('framepipe-bench-test-')
    for option, shared in ((), True), (('--no-shared-memory',), False):
        report_path = os.path.join(out, f'bench-{shared}.json')
        # Dealt as frames: with `auto` a copy of an H.264 source is a container change (no frame).
        result = bench('--generate', TINY, '--filters', 'copy', '--workers', '1', '--no-baselines',
                       '--distribution', 'frames', '--json', report_path, *option)
        assert result.returncode == 0, f'exit {result.returncode}: {result.stdout}\n{result.stderr}'
        with open(report_path) as f:
            (run,) = json.load(f)['runs']
        links = run['wire']
        assert links['to_sink_by_shared_memory'] is shared, (option, links)
        assert links['to_worker_bytes'] == 0, links
        assert run['bytes_per_frame_on_wire'] == (0 if shared else links['to_sink_bytes']), run
        assert ('by shared memory' in result.stdout) == shared, result.stdout
        assert_cluster_gone(run['zmq_port_base'])


def test_bad_options_are_refused():
    cases = [
        (['--input', '/nonexistent/clip.mp4'], 'no such file'),
        (['--generate', 'huge'], 'expected'),
        (['--generate', TINY, '--filters', 'nosuchfilter'], 'nosuchfilter'),
        (['--generate', TINY, '--workers', '0'], '--workers'),
        (['--generate', TINY, '--format', 'mpeg2'], 'unknown format'),
        (['--generate', TINY, '--format', 'mp3', '--filters', 'blur=sigma=2'], 'audio only'),
        ([], '--input'),
    ]
    for args, expected in cases:
        result = bench(*args, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode != 0, f'{args}: exit 0'
        assert expected in output, f'{args}: {expected!r} not in {output!r}'


def test_interrupted_bench_leaves_no_process():
    out = workdir('framepipe-bench-test-')
    proc = subprocess.Popen(
        [FRAMEPIPE, 'bench', '--cache-dir', CACHE, '--generate', '320x240p25:60s', '--filters',
         'blur=sigma=4', '--workers', '2', '--no-baselines', '--work-dir', out],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = None

        def cluster_running():
            nonlocal base
            for line in processes_mentioning(os.path.join(out, 'cluster-2')):
                words = line.split()
                if ' up ' in line and '--zmq-port-base' in words:
                    base = words[words.index('--zmq-port-base') + 1]
            return base is not None and len(processes_mentioning(f'127.0.0.1:{base} ')) >= 2

        wait_for(cluster_running, 120, 'the bench to start its cluster and workers')
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0, f'an interrupted bench exited 0:\n{output}'
        assert 'interrupted' in output, output
        assert_cluster_gone(base)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == '__main__':
    main([test_one_and_two_workers, test_chain_without_ffmpeg_equivalent, test_output_formats,
          test_copy_by_shared_memory_and_over_tcp, test_bad_options_are_refused, test_interrupted_bench_leaves_no_process])
