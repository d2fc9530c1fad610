

class _Stalling:
    """A clock whose first monotonic/wall/monotonic triple straddles a 5 ms stall."""

    def __init__(self) -> None:
        self.mono, self.reads = 1_000_000, 0

    def monotonic_ns(self) -> int:
        self.reads += 1
        if self.reads == 2:  # descheduled between the first pair's reads
            self.mono += 5_000_000
        self.mono += 100
        return self.mono

    def wall_ns(self) -> int:
        return self.mono + 7_000_000_000  # the true anchor: 7 s


def test_the_epoch_anchor_comes_from_the_tightest_read():
    from loadray.engine.clock import epoch_anchor_ns

    anchor = epoch_anchor_ns(_Stalling())
    assert abs(anchor - 7_000_000_000) <= 100  # a plain wall - monotonic pair would be 5 ms off
