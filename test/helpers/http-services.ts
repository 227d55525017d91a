/**
 * Services for the HTTP server tests, built from a descriptor at runtime:
 * `test.HttpService` (request/response types without fields: brpc's "http services")
 * and `test.KitchenService` (a message with every kind of field, for json2pb).
 */
import { create, createFileRegistry, type DescMessage, type DescService } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as T,
} from "@bufbuild/protobuf/wkt";

function field(name: string, number: number, type: T, extra: Record<string, unknown> = {}) {
  return { name, number, type, label: Label.OPTIONAL, jsonName: name, ...extra };
}

const file: FileDescriptorProto = create(FileDescriptorProtoSchema, {
  name: "http_test.proto",
  package: "test",
  syntax: "proto2",
  messageType: [
    { name: "HttpRequest" },
    { name: "HttpResponse" },
    {
      name: "Nested",
      field: [field("name", 1, T.STRING), field("n", 2, T.INT32)],
    },
    {
      name: "Kitchen",
      field: [
        field("i32", 1, T.INT32),
        field("i64", 2, T.INT64),
        field("u64", 3, T.UINT64),
        field("b", 4, T.BOOL),
        field("d", 5, T.DOUBLE),
        field("f", 6, T.FLOAT),
        field("s", 7, T.STRING),
        field("by", 8, T.BYTES),
        field("e", 9, T.ENUM, { typeName: ".test.Color" }),
        field("rs", 10, T.STRING, { label: Label.REPEATED }),
        field("nested", 11, T.MESSAGE, { typeName: ".test.Nested" }),
        field("tags", 12, T.MESSAGE, { label: Label.REPEATED, typeName: ".test.Kitchen.TagsEntry" }),
        field("req", 13, T.STRING, { label: Label.REQUIRED }),
        field("items", 14, T.MESSAGE, { label: Label.REPEATED, typeName: ".test.Nested" }),
      ],
      nestedType: [
        {
          name: "TagsEntry",
          field: [field("key", 1, T.STRING), field("value", 2, T.INT32)],
          options: { mapEntry: true },
        },
      ],
    },
  ],
  enumType: [
    {
      name: "Color",
      value: [
        { name: "RED", number: 0 },
        { name: "GREEN", number: 1 },
        { name: "BLUE", number: 2 },
      ],
    },
  ],
  service: [
    {
      name: "HttpService",
      method: [
        { name: "Raw", inputType: ".test.HttpRequest", outputType: ".test.HttpResponse" },
        { name: "Stream", inputType: ".test.HttpRequest", outputType: ".test.HttpResponse" },
        { name: "Events", inputType: ".test.HttpRequest", outputType: ".test.HttpResponse" },
        { name: "default_method", inputType: ".test.HttpRequest", outputType: ".test.HttpResponse" },
      ],
    },
    {
      name: "KitchenService",
      method: [{ name: "Echo", inputType: ".test.Kitchen", outputType: ".test.Kitchen" }],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

export const HttpService = registry.getService("test.HttpService") as DescService;
export const KitchenService = registry.getService("test.KitchenService") as DescService;
export const Kitchen = registry.getMessage("test.Kitchen") as DescMessage;
