"""The Novu simulator and simulated providers, for the demo and the tests.

- `NovuSimulator` + `create_novu_app`: a stateful, Novu-compatible API (envelope, auth,
  set-primary side effects, idempotency, rate limits, switchable faults) and `/_sim/`
  control endpoints;
- `ProviderFarm` + `create_providers_app`: a Statuspage and a health endpoint per provider;
- `serve_simulation`: both on one loopback port, inside the caller's event loop.
"""

from daemon.sim.faults import Fault, FaultError
from daemon.sim.novu import create_novu_app
from daemon.sim.providers import (
    DEFAULT_PROVIDERS,
    ProviderChange,
    ProviderFarm,
    ProviderSpec,
    create_providers_app,
)
from daemon.sim.seed import SECRET_MARKER, Seed, SeedError, default_seed, load_seed
from daemon.sim.serve import Simulation, SimulationError, create_simulation_app, serve_simulation
from daemon.sim.state import CallRecord, NovuSimulator, SimError
from daemon.sim.wiring import connect

__all__ = [
    "DEFAULT_PROVIDERS",
    "SECRET_MARKER",
    "CallRecord",
    "Fault",
    "FaultError",
    "NovuSimulator",
    "ProviderChange",
    "ProviderFarm",
    "ProviderSpec",
    "Seed",
    "SeedError",
    "SimError",
    "Simulation",
    "SimulationError",
    "connect",
    "create_novu_app",
    "create_providers_app",
    "create_simulation_app",
    "default_seed",
    "load_seed",
    "serve_simulation",
]
