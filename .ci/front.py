#!/usr/bin/env python3
"""A round-robin loopback TCP front for several gateways, as a load balancer would be.

    front.py LISTEN_PORT BACKEND_PORT...

Each accepted connection goes to the next backend that accepts one (a dead one is skipped);
bytes are copied both ways until either side closes. Per connection, as most balancers are:
the conformance tools open many connections, so their requests spread over every instance.
"""
import asyncio
import itertools
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except OSError:
            pass


async def main(listen, backends):
    turn = itertools.count()

    async def handle(c_reader, c_writer):
        start = next(turn)
        for i in range(len(backends)):
            port = backends[(start + i) % len(backends)]
            try:
                u_reader, u_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            c_writer.close()
            return
        await asyncio.gather(pipe(c_reader, u_writer), pipe(u_reader, c_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), [int(p) for p in sys.argv[2:]]))
