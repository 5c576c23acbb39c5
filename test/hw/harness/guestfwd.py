"""One guest connection of the emulated board, carried to the test's server on the host.

QEMU's user network (restrict=on) runs this for each TCP connection the guest opens to the
guestfwd address, with the connection on stdin/stdout; it connects to 127.0.0.1:PORT and
copies bytes both ways until either side closes. The guest can reach nothing else.
"""
import os
import selectors
import socket
import sys

port = int(sys.argv[1])
upstream = socket.create_connection(("127.0.0.1", port))
guest = socket.socket(fileno=os.dup(0))
sel = selectors.DefaultSelector()
sel.register(guest, selectors.EVENT_READ, upstream)
sel.register(upstream, selectors.EVENT_READ, guest)
open_sides = 2
while open_sides:
    for key, _ in sel.select():
        data = key.fileobj.recv(65536)
        if data:
            key.data.sendall(data)
            continue
        sel.unregister(key.fileobj)
        open_sides -= 1
        try:
            key.data.shutdown(socket.SHUT_WR)
        except OSError:
            pass
