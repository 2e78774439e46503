//! The REST/JSON mapping of the `api` services, read from their
//! `google.api.http` options at build time: `api_rest.rs`, a table of
//! routes the server mounts, and `api_openapi.json`, the OpenAPI document
//! describing them.

use std::fmt::Write as _;
use std::{error::Error, fs, path::Path};

use protox::prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use serde_json::{Map, Value as Json, json};

/// One REST binding of a method.
struct Binding {
    verb: &'static str,
    path: String,
    body: String,
    method: MethodDescriptor,
}

/// The `google.api.http` rule of `method`, if it has one.
fn binding(pool: &DescriptorPool, method: &MethodDescriptor) -> Option<Binding> {
    let ext = pool.get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&ext) {
        return None;
    }
    let rule = options.get_extension(&ext);
    let Value::Message(rule) = rule.as_ref() else {
        return None;
    };
    let text = |m: &DynamicMessage, name: &str| match m.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    for verb in ["get", "put", "post", "delete", "patch"] {
        if rule.has_field_by_name(verb) {
            return Some(Binding {
                verb: match verb {
                    "get" => "GET",
                    "put" => "PUT",
                    "post" => "POST",
                    "delete" => "DELETE",
                    _ => "PATCH",
                },
                path: text(rule, verb),
                body: text(rule, "body"),
                method: method.clone(),
            });
        }
    }
    None
}

/// The Rust path of a message type, from `src/api/rest.rs`.
fn rust_type(message: &MessageDescriptor) -> String {
    let name = message.full_name();
    if let Some(rest) = name.strip_prefix("google.protobuf.") {
        format!("::pbjson_types::{rest}")
    } else if let Some(rest) = name.strip_prefix("api.") {
        format!("super::proto::{rest}")
    } else {
        panic!("unexpected message type {name} in an api method")
    }
}

/// The top-level boolean fields of `message`, by JSON name and proto name:
/// query-string values for them are read as booleans.
fn bool_fields(message: &MessageDescriptor) -> Vec<String> {
    message
        .fields()
        .filter(|f| matches!(f.kind(), Kind::Bool) && !f.is_list())
        .flat_map(|f| [f.name().to_string(), f.json_name().to_string()])
        .collect()
}

/// The OpenAPI schema of a field's value.
fn field_schema(field: &FieldDescriptor) -> Json {
    let one = match field.kind() {
        Kind::Double | Kind::Float => json!({"type": "number"}),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({"type": "integer", "format": "int32"})
        }
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64", "minimum": 0}),
        // proto3 JSON writes 64-bit integers as strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({"type": "string", "format": "int64"})
        }
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(e) => {
            json!({"type": "string", "enum": e.values().map(|v| v.name().to_string()).collect::<Vec<_>>()})
        }
        Kind::Message(m) if field.is_map() => {
            let value = m
                .get_field_by_name("value")
                .map_or(json!({}), |v| field_schema(&v));
            return json!({"type": "object", "additionalProperties": value});
        }
        Kind::Message(m) => message_ref(&m),
    };
    if field.is_list() {
        json!({"type": "array", "items": one})
    } else {
        one
    }
}

/// A reference to a message's schema (well-known types inline).
fn message_ref(m: &MessageDescriptor) -> Json {
    match m.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string"}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.Empty" => json!({"type": "object"}),
        name => json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

/// Adds `m` and every message it refers to to `schemas`.
fn add_schema(m: &MessageDescriptor, schemas: &mut Map<String, Json>) {
    if m.full_name().starts_with("google.protobuf.") || schemas.contains_key(m.full_name()) {
        return;
    }
    schemas.insert(m.full_name().to_string(), Json::Null);
    let mut properties = Map::new();
    for f in m.fields() {
        properties.insert(f.json_name().to_string(), field_schema(&f));
        if let Kind::Message(inner) = f.kind() {
            if f.is_map() {
                if let Some(Kind::Message(v)) = inner.get_field_by_name("value").map(|v| v.kind()) {
                    add_schema(&v, schemas);
                }
            } else {
                add_schema(&inner, schemas);
            }
        }
    }
    schemas.insert(
        m.full_name().to_string(),
        json!({"type": "object", "properties": properties}),
    );
}

/// The path's `{field.path}` parameters, in order.
fn path_params(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
        .collect()
}

pub(crate) fn generate(pool: &DescriptorPool, out_dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut bindings = Vec::new();
    for service in pool.services().filter(|s| s.package_name() == "api") {
        for method in service.methods() {
            if let Some(b) = binding(pool, &method) {
                bindings.push(b);
            }
        }
    }

    let mut table = String::from(
        "// Generated by build_rest.rs from the `google.api.http` options.\n\
         /// Every REST binding of the `api` services.\n\
         pub(super) static ROUTES: &[Route] = &[\n",
    );
    for b in &bindings {
        let m = &b.method;
        let params: Vec<String> = path_params(&b.path)
            .iter()
            .map(|p| format!("{p:?}"))
            .collect();
        writeln!(
            table,
            "    Route {{ verb: {verb:?}, path: {path:?}, params: &[{params}], body: {body:?}, \
             grpc_path: \"/{service}/{name}\", bool_fields: &{bools:?}, \
             call: call::<{input}, {output}> }},",
            verb = b.verb,
            path = b.path,
            params = params.join(", "),
            body = b.body,
            service = m.parent_service().full_name(),
            name = m.name(),
            bools = bool_fields(&m.input()),
            input = rust_type(&m.input()),
            output = rust_type(&m.output()),
        )?;
    }
    table.push_str("];\n");
    fs::write(out_dir.join("api_rest.rs"), table)?;

    // The OpenAPI document.
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for b in &bindings {
        let m = &b.method;
        add_schema(&m.input(), &mut schemas);
        add_schema(&m.output(), &mut schemas);
        let params = path_params(&b.path);
        // `{device.dev_eui}` is `{dev_eui}` in the document, so that the
        // bindings of one path share it as OpenAPI requires.
        let short = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
        let mut doc_path = b.path.clone();
        for p in &params {
            doc_path = doc_path.replace(&format!("{{{p}}}"), &format!("{{{}}}", short(p)));
        }
        let mut parameters: Vec<Json> = params
            .iter()
            .map(|p| json!({"name": short(p), "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if b.body.is_empty() {
            for f in m.input().fields() {
                let scalar = !matches!(f.kind(), Kind::Message(_)) && !f.is_map();
                if scalar && !params.contains(&f.name().to_string()) {
                    parameters.push(json!({
                        "name": f.json_name(), "in": "query", "required": false,
                        "schema": field_schema(&f),
                    }));
                }
            }
        }
        let mut op = json!({
            "operationId": format!("{}_{}", m.parent_service().name(), m.name()),
            "tags": [m.parent_service().name()],
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": message_ref(&m.output())}}},
                "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
            },
        });
        if !b.body.is_empty() {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": message_ref(&m.input())}},
            });
        }
        let entry = paths.entry(doc_path).or_insert_with(|| json!({}));
        entry[b.verb.to_lowercase()] = op;
    }
    schemas.insert(
        "Status".into(),
        json!({"type": "object", "properties": {
            "code": {"type": "integer"}, "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}}}}),
    );
    let doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "LoRaWAN network server API",
            "description": "ChirpStack v4's management API as REST/JSON. Authenticate with `Authorization: Bearer <token>` (a login token or an API key).",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    });
    fs::write(
        out_dir.join("api_openapi.json"),
        serde_json::to_string_pretty(&doc)?,
    )?;
    Ok(())
}
