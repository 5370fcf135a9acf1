"""Run attack cells in a warm Zygote, inside a throw-away container or namespace ONLY, with
bystanders that a hole would harm, and print what each job did to them. Attack cells report
what they saw by raising (the message comes back as the cell's error).

    python driver.py MODE ATTACK.py [ATTACK2.py ...]
"""
import ctypes, json, os, socket, stat, subprocess, sys, threading, time
sys.path.insert(0, os.environ.get("SRC", "/src"))
from grader.sandbox.process import Zygote, Limits
import grader.sandbox.process

if os.environ.get("SIMULATE_ABI"):  # what a kernel with an older Landlock (e.g. 6.8: ABI 4) gives
    _source = grader.sandbox.process.worker_source
    grader.sandbox.process.worker_source = lambda: _source().replace(
        'abi = landlock_abi() if mode in ("uid", "landlock") else 0',
        f'abi = min({int(os.environ["SIMULATE_ABI"])}, landlock_abi()) if mode in ("uid", "landlock") else 0')
    assert grader.sandbox.process.worker_source() != _source()

VICTIM = os.environ.get("VICTIM_DIR", "/tmp/victim")
calls = []


def listen(sock, name):
    sock.listen(8)
    def serve():
        while True:
            try:
                conn, _ = sock.accept()
                calls.append((name, conn.recv(64).decode(errors="replace")))
                conn.close()
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()


def bystanders():
    os.makedirs(VICTIM + "/keep/sub", exist_ok=True)
    os.chmod(VICTIM, 0o755)
    for p in (VICTIM + "/keep/a.txt", VICTIM + "/keep/sub/b.txt", VICTIM + "/secret.txt"):
        with open(p, "w") as f:
            f.write("keep me")
    os.chmod(VICTIM + "/secret.txt", 0o600)
    u = socket.socket(socket.AF_UNIX)
    try:
        os.unlink(VICTIM + "/grader.sock")
    except OSError:
        pass
    u.bind(VICTIM + "/grader.sock")
    os.chmod(VICTIM + "/grader.sock", int(os.environ.get("SOCK_MODE", "755"), 8))  # 666: like /run/dbus/system_bus_socket
    listen(u, "pathname")
    a = socket.socket(socket.AF_UNIX)
    a.bind("\0victim-abstract")
    listen(a, "abstract")
    t = socket.socket()
    t.bind(("127.0.0.1", 0))
    listen(t, "tcp")
    with open(VICTIM + "/port", "w") as f:
        f.write(str(t.getsockname()[1]))
    if os.environ.get("RESULTS_WRITER"):  # the trusted side writing other students' results meanwhile
        os.makedirs(VICTIM + "/results", exist_ok=True)
        os.chmod(VICTIM + "/results", 0o755)

        def write_results():
            for n in range(100000):
                with open(f"{VICTIM}/results/student-{n % 50:02d}.json", "w") as f:
                    f.write("{}")
                time.sleep(0.05)
        threading.Thread(target=write_results, daemon=True).start()
    return subprocess.Popen(["sleep", "600"]), (u, a, t)


def ioprio(pid):
    return ctypes.CDLL(None).syscall(252, 1, pid)  # ioprio_get(IOPRIO_WHO_PROCESS, pid)


def state(z, bystander):
    files = {}
    for root, dirs, names in os.walk(VICTIM):
        for n in dirs + names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            files[p[len(VICTIM):]] = oct(stat.S_IMODE(st.st_mode))
    procs = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                cmd = open(f"/proc/{e}/cmdline", "rb").read().replace(b"\0", b" ")[:60].decode()
                procs.append((int(e), os.stat(f"/proc/{e}").st_uid, cmd))
            except OSError:
                pass
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"grader_maxrss_mib": usage.ru_maxrss >> 10, "grader_cpu": round(usage.ru_utime + usage.ru_stime, 2),
            "grader_nice": os.getpriority(os.PRIO_PROCESS, 0), "zygote_nice": os.getpriority(os.PRIO_PROCESS, z.proc.pid),
            "bystander_nice": os.getpriority(os.PRIO_PROCESS, bystander.pid), "bystander_alive": bystander.poll() is None,
            "grader_ioprio": ioprio(0), "zygote_ioprio": ioprio(z.proc.pid), "calls": list(calls), "files": files,
            "procs": [p for p in procs if "python" not in p[2] or p[0] == z.proc.pid]}


def run(z, cells, timeout=30):
    z.begin({"cells": cells, "exercises": []})
    frames, deadline = [], time.monotonic() + timeout
    while True:
        try:
            kind, val = z.poll(deadline)
        except Exception as exc:  # what the trusted side does with a corrupted channel: kill, blame
            print("CHANNEL", type(exc).__name__, str(exc)[:200], flush=True)
            return frames, z.kill_job()
        if kind == "frames":
            frames += [f for f in val if f]  # (what the grader ignores is not kept)
        elif kind == "exit":
            return frames, val
        else:
            return frames, z.kill_job()


def main():
    mode, files = sys.argv[1], sys.argv[2:]
    bystander, socks = bystanders()
    limits = Limits(timeout=float(os.environ.get("JOB_TIMEOUT", 20)))
    if mode == "docker":
        from grader.sandbox.docker import DockerWorker
        z = DockerWorker(limits=limits, image=os.environ.get("IMAGE", "activation-grader:isolation"))
        z.proc = type("P", (), {"pid": os.getpid()})  # no local zygote: report the grader twice
    else:
        z = Zygote(mode=mode, limits=limits)
    z.start()
    print("INFO", json.dumps(z.info), flush=True)
    print("BEFORE", json.dumps(state(z, bystander)), flush=True)
    for f in files:
        cells = open(f).read().replace("{PORT}", str(socks[2].getsockname()[1])).split("\n# %%\n")
        t0 = time.monotonic()
        frames, ex = run(z, cells, float(os.environ.get("JOB_TIMEOUT", 20)))
        for fr in frames:
            if fr.get("ev") == "cell_done" and fr.get("error"):
                print(f"[{os.path.basename(f)} cell {fr['i']}]", fr["error"]["type"], fr["error"]["message"], flush=True)
            elif fr.get("ev") == "fatal":
                print(f"[{f}] FATAL", fr, flush=True)
        print(f"[{os.path.basename(f)}] EXIT", ex, round(time.monotonic() - t0, 2), "s", flush=True)
        time.sleep(float(os.environ.get("AFTER_SLEEP", 0.5)))
        print("AFTER", json.dumps(state(z, bystander)), flush=True)
    z.close()


main()
