"""Documents in, netCDF out: the writer, the catalog (search), the reader (xarray), replay and export."""

from store.catalog import Catalog, Run
from store.replay import replay
from store.writer import Writer

__all__ = ["Catalog", "Run", "Writer", "replay"]
