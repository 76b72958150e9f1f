"""Documents in, netCDF out: the writer, the catalog, the reader and replay."""

from store.catalog import Catalog, Run
from store.writer import Writer

__all__ = ["Catalog", "Run", "Writer"]
