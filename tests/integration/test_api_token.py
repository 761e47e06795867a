"""The API token never stands on a command line (every user can read those, with `ps`): `up` takes
it from a file (--api-token-file) or from FRAMEPIPE_API_TOKEN and hands it to its http-frontend by
the environment, and to no other role. A token file that every user can read is refused.
Usage: test_api_token.py path/to/framepipe
"""
import os
import subprocess

from cluster import FRAMEPIPE, Cluster, main, workdir

WORK = workdir('framepipe-token-')
FILE_TOKEN = 'token-from-a-file-7f3a9c'
ENV_TOKEN = 'token-from-the-environment-52d1e8'


def group_processes(cluster):
    """{pid: argv} of the cluster's processes: `up` and every role (`up` leads its group)."""
    out = subprocess.run(['pgrep', '-g', str(cluster.proc.pid)], capture_output=True,
                         text=True).stdout
    found = {}
    for pid in map(int, out.split()):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                found[pid] = f.read().split(b'\0')
        except OSError:
            pass  # gone meanwhile
    return found


def environment(pid):
    with open(f'/proc/{pid}/environ', 'rb') as f:
        return f.read()


def check_token_hidden(cluster, token):
    assert cluster.request('GET', '/api/jobs', headers={'Authorization': ''})[0] == 401
    assert cluster.request('GET', '/api/jobs')[0] == 200  # cluster.auth holds the token
    processes = group_processes(cluster)
    roles = {argv[1].decode(): pid for pid, argv in processes.items() if len(argv) > 1}
    assert {'up', 'registry', 'ventilator', 'sink', 'http', 'worker'} <= set(roles), roles
    for pid, argv in processes.items():
        assert token.encode() not in b' '.join(argv), f'the token is on the command line of {pid}'
    listing = subprocess.run(['ps', '-eww', '-o', 'args'], capture_output=True, text=True).stdout
    assert token not in listing, 'ps shows the token'
    # Only the http-frontend has it, by its environment.
    for pid, argv in processes.items():
        role = argv[1].decode() if len(argv) > 1 else ''
        if role in ('registry', 'ventilator', 'sink', 'worker'):
            assert token.encode() not in environment(pid), f'{role} ({pid}) has the token'
    assert token.encode() in environment(roles['http'])


def test_token_from_a_file():
    with Cluster(workers=1, api_token=FILE_TOKEN) as cluster:
        check_token_hidden(cluster, FILE_TOKEN)


def test_token_from_the_environment():
    with Cluster(workers=1, env={'FRAMEPIPE_API_TOKEN': ENV_TOKEN}) as cluster:
        check_token_hidden(cluster, ENV_TOKEN)


def test_a_token_file_every_user_can_read_is_refused():
    path = os.path.join(WORK, 'open-token')
    with open(path, 'w') as f:
        f.write('open-token-value\n')
    os.chmod(path, 0o644)
    for command in (['http'], ['up', '--workers', '0']):
        result = subprocess.run([FRAMEPIPE, *command, '--api-token-file', path],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 1, (command, result.returncode, result.stderr)
        assert 'chmod o-rw' in result.stdout + result.stderr, result.stdout + result.stderr


def test_api_token_is_no_flag():
    result = subprocess.run([FRAMEPIPE, 'up', '--api-token', 'x'], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0 and '--api-token' in result.stderr, result.stderr


if __name__ == '__main__':
    main([test_token_from_a_file, test_token_from_the_environment,
          test_a_token_file_every_user_can_read_is_refused, test_api_token_is_no_flag])
