"""Progress lines and Ctrl-C handling for long runs.

Every `log_every` steps a full line (step, loss, learning rate, examples/s, ETA); on a terminal also
a live line redrawn in place. The first Ctrl-C (or SIGTERM) asks the loop to stop after the current
step, so the run is saved and can resume.
"""
import math
import signal
import time


class StopRequest:
    """Turns the first Ctrl-C / SIGTERM into a request to stop after the current step.

    A second signal aborts at once (the last complete checkpoint is still safe on disk).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signum = None
        self._old = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self):
        try:
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        except ValueError:  # not the main thread: signals stay as they are
            pass
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        return False


def format_seconds(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Progress:
    """Progress lines: every `log_every` steps a full line; on a terminal also a live line, redrawn in place."""

    LIVE_INTERVAL = 0.5

    def __init__(self, start, total, batch_size, log_every, stream):
        self.start, self.total, self.batch_size, self.log_every = start, total, batch_size, log_every
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.mark_time, self.mark_step = time.monotonic(), start
        self.next_live = self.mark_time + self.LIVE_INTERVAL
        self.rate = None  # steps per second, smoothed

    def wants_values(self, step):
        """Whether the step about to run (numbered step + 1 when done) should fetch loss and learning rate."""
        return (step + 1) % self.log_every == 0 or step + 1 == self.total or (
            self.tty and time.monotonic() >= self.next_live)

    def _update_rate(self, step):
        now = time.monotonic()
        if step > self.mark_step and now > self.mark_time:
            rate = (step - self.mark_step) / (now - self.mark_time)
            self.rate = rate if self.rate is None else 0.7 * self.rate + 0.3 * rate
            self.mark_time, self.mark_step = now, step

    def text(self, step, loss, lr):
        eta = (self.total - step) / self.rate if self.rate else None
        speed = self.rate * self.batch_size if self.rate else 0
        return (f"After {step} training step(s), loss on training batch is {loss:g}. (lr {lr:.4g}, "
                f"{speed:.0f} examples/s, ETA {format_seconds(eta)})")

    def report(self, step, loss, lr):
        self._update_rate(step)
        if step % self.log_every == 0 or step == self.total:
            self.stream.write(("\r\033[K" if self.tty else "") + self.text(step, loss, lr) + "\n")
        elif self.tty:
            pct = 100.0 * step / self.total
            self.stream.write(f"\r\033[K[{pct:5.1f}%] " + self.text(step, loss, lr))
        self.next_live = time.monotonic() + self.LIVE_INTERVAL
        self.stream.flush()

    def clear(self):
        if self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()
