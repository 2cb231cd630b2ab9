"""WebSocket under gevent, whichever gevent server accepts the connection.

python-engineio picks its gevent WebSocket wrapper once, at import time: when
gevent-websocket is installed it expects every upgrade to arrive through
gevent-websocket's handler (``environ["wsgi.websocket"]``) and answers 500
otherwise. That handler is what ``socketio.run()`` and gunicorn's
``geventwebsocket.gunicorn.workers.GeventWebSocketWorker`` use, but gunicorn's
plain ``-k gevent`` worker does not, and there simple-websocket must serve the
upgrade. ``install()`` makes the choice per request, so both servers work.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from engineio.async_drivers import gevent as driver

    if getattr(driver._async["websocket"], "_chat_dispatching", False):
        return
    from engineio.async_drivers._websocket_wsgi import SimpleWebSocketWSGI

    gevent_websocket_wrapper = driver._async["websocket"]

    class SimpleGeventWebSocket(SimpleWebSocketWSGI):
        def __init__(self, handler: Any, server: Any) -> None:
            import gevent.event
            import gevent.selectors

            super().__init__(
                handler,
                server,
                thread_class=driver.Thread,
                event_class=gevent.event.Event,
                selector_class=gevent.selectors.DefaultSelector,
            )

    class DispatchingWebSocket:
        _chat_dispatching = True

        def __init__(self, handler: Any, server: Any) -> None:
            self.handler = handler
            self.server = server
            self.impl: Any = None

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            if "wsgi.websocket" in environ:
                self.impl = gevent_websocket_wrapper(self.handler, self.server)
            else:
                self.impl = SimpleGeventWebSocket(self.handler, self.server)
            return self.impl(environ, start_response)

        def close(self) -> Any:
            return self.impl.close()

        def send(self, message: Any) -> Any:
            return self.impl.send(message)

        def wait(self) -> Any:
            return self.impl.wait()

    driver._async["websocket"] = DispatchingWebSocket
