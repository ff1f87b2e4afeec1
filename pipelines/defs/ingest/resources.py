import os
from contextlib import contextmanager

import dagster as dg

from pipelines.lib import build_state
from pipelines.lib.config import Settings
from pipelines.lib.duck import connect
from pipelines.lib.publish import remove_stale_temporaries, writer_lock

REBUILD_TAG = "analytics/rebuild"


class WarehouseResource(dg.ConfigurableResource):
    """The data directory and its build warehouse. Holding this resource holds the writer lock
    for the whole run, whoever started it (UI, sensor, schedule, `make run`)."""

    # A second writer (a UI run while `make run` works, say) waits this long, then fails clearly.
    lock_wait_seconds: float = float(os.environ.get("ANALYTICS_LOCK_WAIT_SECONDS", "600"))

    def settings(self) -> Settings:
        return Settings.from_env()

    def connect(self):
        s = self.settings()
        return connect(s.build_db, s)

    def build_is_current(self, context) -> bool:
        """True when the published warehouse is already built from exactly these inputs (see
        pipelines/lib/build_state.py): the build steps then skip. A run tagged
        `analytics/rebuild=true` (`python -m pipelines run --rebuild`) always rebuilds."""
        if context.run.tags.get(REBUILD_TAG, "").lower() == "true":
            return False
        con = self.connect()
        try:
            current = build_state.is_current(con, self.settings())
        finally:
            con.close()
        if current:
            context.log.info("nothing new since the last publish (same batches, code and configuration): "
                             "skipped; tag the run analytics/rebuild=true to rebuild anyway")
        return current

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        with writer_lock(self.settings(), self.lock_wait_seconds):
            stale = remove_stale_temporaries(self.settings())
            if stale:
                context.log.warning(f"removed {len(stale)} temporary file(s) left by a killed run")
            yield self


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"warehouse": WarehouseResource()})
