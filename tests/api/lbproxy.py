#!/usr/bin/env python3
"""A tiny TCP load balancer for tests: listens on 127.0.0.1 (a free port, written to
PORTFILE) and hands each connection to the next backend in turn (round robin), skipping a
backend that refuses the connection, as a layer-4 balancer with health checks would.
TLS passes through untouched. Logs one line per connection: "CONN n -> HOST:PORT".

    lbproxy.py PORTFILE HOST:PORT [HOST:PORT...]
"""
import asyncio
import sys

backends = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in sys.argv[2:])]
turn = 0
count = 0


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def handle(creader, cwriter):
    global turn, count
    count += 1
    n = count
    for _ in range(len(backends)):
        host, port = backends[turn % len(backends)]
        turn += 1
        try:
            breader, bwriter = await asyncio.open_connection(host, port)
        except OSError:
            continue
        print("CONN %d -> %s:%d" % (n, host, port), flush=True)
        await asyncio.gather(pipe(creader, bwriter), pipe(breader, cwriter))
        return
    print("CONN %d -> none" % n, flush=True)
    cwriter.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % port)
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    async with server:
        await server.serve_forever()


asyncio.run(main())
