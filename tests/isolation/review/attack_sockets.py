import socket, os
out = {}
port = {PORT}
def uconn(addr):
    s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(addr); s.sendall(b"attacker"); s.close(); return "CONNECTED"
tests = [("pathname_unix", lambda: uconn("/tmp/victim/grader.sock")),
         ("abstract_unix", lambda: uconn("\0victim-abstract")),
         ("docker_sock", lambda: uconn("/var/run/docker.sock")),
         ("tcp", lambda: socket.create_connection(("127.0.0.1", port or 1), timeout=2)),
         ("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
         ("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM)),
         ("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)),
         ("packet", lambda: socket.socket(17, 3, 0)),
         ("socketpair_inet", lambda: socket.socketpair(socket.AF_INET)),
         ("bind_abstract", lambda: socket.socket(socket.AF_UNIX).bind("\0attacker-left")),
         ]
for name, f in tests:
    try:
        out[name] = "ok " + repr(f())[:12]
    except BaseException as e:
        out[name] = "D" + str(getattr(e, "errno", type(e).__name__))
raise Exception(repr(out))
# %%
# x32 and i386 entry points, in throw-away children
import os, ctypes, mmap
def child(fn):
    pid = os.fork()
    if pid == 0:
        try:
            r = fn()
            os._exit(0 if r >= 0 else 3)
        except BaseException:
            os._exit(4)
    _, st = os.waitpid(pid, 0)
    return ("exit", os.WEXITSTATUS(st)) if os.WIFEXITED(st) else ("signal", os.WTERMSIG(st))
libc = ctypes.CDLL(None, use_errno=True)
def x32_socket():
    r = libc.syscall(0x40000000 | 41, 2, 1, 0)
    return r if r >= 0 else -ctypes.get_errno()
out = {"x32_socket": child(x32_socket)}
# i386 int 0x80 socketcall(SYS_SOCKET=1, args) -- machine code: mov eax,102; mov ebx,1; lea ecx,[rel args]; int 0x80; ret
code = bytes([0x53,  # push rbx
    0xb8, 102, 0, 0, 0,  # mov eax, 102
    0xbb, 1, 0, 0, 0,  # mov ebx, 1
    0x48, 0x89, 0xf9,  # mov rcx, rdi (pointer to args, must be < 4G: use mmap low)
    0xcd, 0x80, 0x5b, 0xc3])
buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x40)  # MAP_32BIT
buf.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
args = (ctypes.c_uint32 * 3)(2, 1, 0)
fn = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p)(addr)
out["i386_socket"] = child(lambda: fn(ctypes.addressof(args)))
out["clone_newuser"] = child(lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))  # clone(CLONE_NEWUSER|SIGCHLD)
raise Exception(repr(out))
