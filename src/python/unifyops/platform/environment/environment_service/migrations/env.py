from unifyops.platform.environment.environment_service.models import Base
from unifyops_core.migrations import run_env

run_env(Base.metadata)
