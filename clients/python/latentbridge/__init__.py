"""Python client of the latentbridge service: bridge embedding spaces with numpy arrays.

    >>> from latentbridge import Client
    >>> lb = Client("http://127.0.0.1:8080")
    >>> lb.create_space("glove", 100)

See :class:`Client` for every call, and :class:`ProblemError` for the errors it raises.
"""

from .client import Client, Operation, Response
from .errors import (LatentbridgeError, LimitError, OperationCancelled, OperationFailed, OperationTimeout,
                     ProblemError)

__version__ = "0.1.0"

__all__ = [
    "Client", "Operation", "Response", "LatentbridgeError", "ProblemError", "OperationFailed",
    "OperationCancelled", "OperationTimeout", "LimitError", "__version__",
]
