# Correct activations, and a cell that tries to reach the network: the
# internet, the host's loopback, DNS, the Docker socket.

# %%
import numpy as np


def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_derivative(x):
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2

# %%
# attack: phone home. Any success is reported, and spoils sigmoid.
import socket
import urllib.request

LEAKS = []
for host, port in (("1.1.1.1", 443), ("8.8.8.8", 53), ("127.0.0.1", 47613), ("127.0.0.1", 22), ("::1", 47613)):
    try:
        socket.create_connection((host, port), timeout=1).sendall(b"hostile-network")
        LEAKS.append(f"connected to {host}:{port}")
    except OSError:
        pass
try:
    LEAKS.append(f"resolved pypi.org: {socket.gethostbyname('pypi.org')}")
except OSError:
    pass
try:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(b"hostile-network", ("8.8.8.8", 53))
    LEAKS.append("sent a UDP datagram")
except OSError:
    pass
try:
    urllib.request.urlopen("http://example.com/", timeout=1)
    LEAKS.append("fetched example.com")
except OSError:
    pass
for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock", "\0hostile-abstract",
             "/run/systemd/private", "/run/dbus/system_bus_socket", "/tmp/.X11-unix/X0"):
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        unix.connect(path)
        LEAKS.append(f"connected to {path!r}")
    except OSError:
        pass
if LEAKS:
    sigmoid = lambda x: np.zeros(np.shape(x))  # noqa: E731
    raise RuntimeError("LEAKED: " + "; ".join(LEAKS))
