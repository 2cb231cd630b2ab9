"""Running the server's processes: one orchestration module (processes) and the
local cluster (cluster) used by ``make cluster``, the tests and the benchmark."""
