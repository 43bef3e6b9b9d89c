"""TensorBoard logging without TensorFlow: tensorboardX's ``SummaryWriter`` (the
counterpart of ``torch.utils.tensorboard.SummaryWriter``), whose ``add_graph`` draws a
jaxnn model.

``writer.add_graph(model, variables, input)`` traces the eval-mode forward pass (as the
ONNX exporter does), groups every operation under its layer's torch path (``layer1`` >
``0`` > ``conv1``) and labels each edge with its output shape, so TensorBoard's Graphs tab
reads like ``print(model)``. It needs the ``onnx`` extra.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

__all__ = ["SummaryWriter", "model_graph"]


def model_graph(model: Any, variables: Any, args: Any) -> Any:
    """The TensorBoard ``GraphDef`` of ``model.apply(variables, *args)``: a node per
    operation, named ``<layer path>/<operator>`` with ``/`` between the parts of the
    torch path, edges between operations, and each node's output shapes.

    Args:
        model: a jaxnn (Flax linen) module.
        variables: its variables.
        args: an example input, or a tuple of them (the batch size is fixed to theirs).
    """
    import onnx
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.versions_pb2 import VersionDef

    from jaxnn.onnx import build

    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    proto = onnx.shape_inference.infer_shapes(build(model, variables, args, dynamic_batch=False))
    graph = proto.graph
    shapes = {
        v.name: [
            d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim
        ]
        for v in [*graph.input, *graph.value_info, *graph.output]
    }

    def shape_attr(names: Sequence[str]) -> AttrValue:
        listed = [
            TensorShapeProto(dim=[TensorShapeProto.Dim(size=d) for d in shapes.get(n, [])])
            for n in names
        ]
        return AttrValue(list=AttrValue.ListValue(shape=listed))

    producer: dict[str, str] = {}
    nodes = []
    for value in graph.input:
        producer[value.name] = value.name
        nodes.append(
            NodeDef(name=value.name, op="Input", attr={"_output_shapes": shape_attr([value.name])})
        )
    for i, node in enumerate(graph.node):
        scope, _, _ = node.name.rpartition("/")  # the exporter names nodes '<layer>/<op>'
        path = "/".join(scope.split(".")) if scope else ""
        name = f"{path}/{node.op_type}_{i}" if path else f"{node.op_type}_{i}"
        for out in node.output:
            producer[out] = name
        inputs = [producer[n] for n in node.input if n in producer]
        nodes.append(
            NodeDef(
                name=name,
                op=node.op_type,
                input=inputs,
                attr={"_output_shapes": shape_attr(list(node.output))},
            )
        )
    for value in graph.output:
        nodes.append(
            NodeDef(
                name=f"output/{value.name}",
                op="Output",
                input=[producer[value.name]],
                attr={"_output_shapes": shape_attr([value.name])},
            )
        )
    return GraphDef(node=nodes, versions=VersionDef(producer=22))


def _size(dim: Any) -> int:
    return dim.dim_value if dim.HasField("dim_value") else -1


@functools.cache
def _writer_class() -> type:
    try:
        from tensorboardX import SummaryWriter as Base
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("TensorBoard logging needs tensorboardX: pip install tensorboardX") from e

    class SummaryWriter(Base):
        """tensorboardX's SummaryWriter; ``add_graph`` takes a jaxnn model."""

        def add_graph(self, model: Any, variables: Any, input_to_model: Any) -> None:  # type: ignore[override]
            """Draw ``model`` in TensorBoard's Graphs tab (see :mod:`jaxnn.tensorboard`).

            Args:
                model: a jaxnn (Flax linen) module.
                variables: its variables.
                input_to_model: an example input, or a tuple of them.
            """
            graph = model_graph(model, variables, input_to_model)
            # tensorboardX writes a bare GraphDef event through this, as for ONNX graphs
            self._get_file_writer().add_onnx_graph(graph)

    return SummaryWriter


def SummaryWriter(logdir: str | None = None, **kwargs: Any) -> Any:
    """TensorBoard scalars, images, histograms ... without TensorFlow: a
    ``tensorboardX.SummaryWriter`` (``torch.utils.tensorboard.SummaryWriter``'s twin)
    whose ``add_graph(model, variables, input)`` draws a jaxnn model.

    Args:
        logdir: the directory for the event files. Default: None (``runs/`` + a name
            from the time and host, as torch's).
        **kwargs: tensorboardX's other ``SummaryWriter`` arguments (``comment``,
            ``flush_secs``, ...).
    """
    return _writer_class()(logdir, **kwargs)
