"""`tf.train.Example` and `tf.train.SequenceExample`, without TensorFlow.

The message classes are built once from their descriptor (the fields of
TensorFlow's ``example.proto`` and ``feature.proto``, whose numbers are
the wire format of every YouTube-8M record) in a private descriptor pool,
and decoded by the protobuf package's own parser (upb). Nothing here
decodes wire format by hand.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

_PACKAGE = "tensorflow"
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
_TYPES = {
    "bytes": descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    "float": descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT,
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
}
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE

# (message, [(field, number, type or message, repeated, oneof, packed)])
# as in tensorflow/core/example/{feature,example}.proto.
_MESSAGES = [
    ("BytesList", [("value", 1, "bytes", True, None, False)]),
    ("FloatList", [("value", 1, "float", True, None, True)]),
    ("Int64List", [("value", 1, "int64", True, None, True)]),
    (
        "Feature",
        [
            ("bytes_list", 1, ".tensorflow.BytesList", False, 0, False),
            ("float_list", 2, ".tensorflow.FloatList", False, 0, False),
            ("int64_list", 3, ".tensorflow.Int64List", False, 0, False),
        ],
    ),
    ("Features", [("feature", 1, "map:Feature", False, None, False)]),
    ("FeatureList", [("feature", 1, ".tensorflow.Feature", True, None, False)]),
    (
        "FeatureLists",
        [("feature_list", 1, "map:FeatureList", False, None, False)],
    ),
    ("Example", [("features", 1, ".tensorflow.Features", False, None, False)]),
    (
        "SequenceExample",
        [
            ("context", 1, ".tensorflow.Features", False, None, False),
            (
                "feature_lists",
                2,
                ".tensorflow.FeatureLists",
                False,
                None,
                False,
            ),
        ],
    ),
]


def _add_field(message, name, number, kind, repeated, oneof, packed):
    field = message.field.add(name=name, number=number, json_name=name)
    field.label = _REPEATED if repeated else _OPTIONAL
    if oneof is not None:
        field.oneof_index = oneof
    if packed:
        field.options.packed = True
    if kind.startswith("map:"):
        # A map<string, V> is a repeated nested entry message.
        value = kind[4:]
        entry_name = name.title().replace("_", "") + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        key = entry.field.add(name="key", number=1, json_name="key")
        key.label, key.type = _OPTIONAL, _TYPES["string"]
        val = entry.field.add(name="value", number=2, json_name="value")
        val.label, val.type = _OPTIONAL, _MESSAGE
        val.type_name = f".{_PACKAGE}.{value}"
        field.label = _REPEATED
        field.type = _MESSAGE
        field.type_name = f".{_PACKAGE}.{message.name}.{entry_name}"
    elif kind.startswith("."):
        field.type, field.type_name = _MESSAGE, kind
    else:
        field.type = _TYPES[kind]


def _file_descriptor():
    proto = descriptor_pb2.FileDescriptorProto(
        name="keras_gmsa/tensorflow_example.proto",
        package=_PACKAGE,
        syntax="proto3",
    )
    for name, fields in _MESSAGES:
        message = proto.message_type.add(name=name)
        if any(f[4] is not None for f in fields):
            message.oneof_decl.add(name="kind")
        for field in fields:
            _add_field(message, *field)
    return proto


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file_descriptor())
_CLASSES = message_factory.GetMessageClassesForFiles(
    ["keras_gmsa/tensorflow_example.proto"], _POOL
)

Example = _CLASSES["tensorflow.Example"]
SequenceExample = _CLASSES["tensorflow.SequenceExample"]
Feature = _CLASSES["tensorflow.Feature"]
