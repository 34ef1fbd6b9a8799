"""Real cluster services for tests, each in its own temporary folder on free ports, stopped after:
a PostgreSQL server (Debian's ``postgresql``) and a single-node Slurm (``slurm-wlm`` + ``munge``).

How they run on a machine without systemd is in ../shared/docs/cluster-services.md: PostgreSQL
refuses root, so as root it runs as the ``postgres`` user; Slurm runs slurmctld and slurmd on
127.0.0.1 with a private munge socket, no cgroups and no accounting. ``make services`` installs
the packages; without them a test that needs one fails saying so.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(ready, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready after {timeout_s:g} s\n{tail}")


# -- PostgreSQL ------------------------------------------------------------------------------------

def postgres_bin() -> Path | None:
    """Debian's server binaries (initdb, pg_ctl are not on PATH there), the newest version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh PostgreSQL server on 127.0.0.1 with an empty ``dagster`` database: yields its URL."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (make services: apt-get install postgresql)")
    # The server refuses to run as root; as root, run it as Debian's postgres user, in a folder
    # that user can reach (pytest's tmp_path is private to root).
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="glioma-rings-pg-"))
    data, log, port = folder / "data", folder / "server.log", free_port()
    if as_user:
        entry = pwd.getpwnam("postgres")
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    try:
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        # fsync off: a test database lost in a crash is simply made again.
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                        "-w", "start"], check=True, capture_output=True)
        subprocess.run([*as_user, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster",
                        "dagster"], check=True, capture_output=True)
        yield f"postgresql://dagster@127.0.0.1:{port}/dagster"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


# -- Slurm -----------------------------------------------------------------------------------------

SLURM_BINARIES = ("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "scontrol", "scancel", "sinfo", "squeue")


def slurm_missing() -> list[str]:
    return [name for name in SLURM_BINARIES if shutil.which(name) is None
            and not Path("/usr/sbin", name).exists()]


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path
    conf: Path
    node: str

    @property
    def env(self) -> dict[str, str]:
        """What a Slurm client command needs to reach this cluster."""
        return {"SLURM_CONF": str(self.conf)}


def _binary(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


SLURM_CONF = """\
ClusterName=glioma-rings-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
MinJobAge=3600
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster() -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd on 127.0.0.1 (one node, this machine's CPUs), until the end."""
    missing = slurm_missing()
    if missing:
        raise RuntimeError(f"Slurm is not installed, missing {missing} (make services: apt-get install slurm-wlm munge)")
    folder = Path(tempfile.mkdtemp(prefix="glioma-rings-slurm-"))
    for sub in ("state", "spool", "munge"):
        (folder / sub).mkdir()
    munge_socket = folder / "munge" / "socket"
    node = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(node=node, folder=folder, munge_socket=munge_socket, cpus=os.cpu_count() or 1,
                                      ctld_port=free_port(), slurmd_port=free_port()), encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    processes: list[subprocess.Popen] = []
    try:
        key = folder / "munge" / "munge.key"
        subprocess.run([_binary("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        key.chmod(0o600)
        subprocess.run([_binary("munged"), "--force", f"--key-file={key}", f"--socket={munge_socket}",
                        f"--pid-file={folder / 'munge' / 'munged.pid'}", f"--log-file={folder / 'munge' / 'munged.log'}",
                        f"--seed-file={folder / 'munge' / 'munged.seed'}"], check=True, capture_output=True)
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
            log = open(folder / f"{daemon[0]}.out", "w", encoding="utf-8")
            processes.append(subprocess.Popen([_binary(daemon[0]), *daemon[1:]], env=env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
            log.close()

        def node_idle() -> bool:
            state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%t"], env=env, capture_output=True, text=True)
            return state.stdout.strip() == "idle"

        _wait_until(node_idle, 30, "the Slurm node", folder / "slurmd.log")
        yield SlurmCluster(folder, conf, node)
    finally:
        for process in reversed(processes):  # each leads its own group: slurmstepd goes with slurmd
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            if process.poll() is None:
                process.kill()
        pid_file = folder / "munge" / "munged.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
