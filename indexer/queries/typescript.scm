; repoqa tag queries for TypeScript and TSX, on top of ecmascript.scm (loaded first).

((comment)? @doc . (interface_declaration name: (type_identifier) @name) @definition.interface)
((comment)? @doc . (abstract_class_declaration name: (type_identifier) @name) @definition.class)
((comment)? @doc . (type_alias_declaration name: (type_identifier) @name) @definition.type)
((comment)? @doc . (enum_declaration name: (identifier) @name) @definition.enum)
; `export` wraps a declaration: its doc comment precedes the export_statement
((comment) @doc . (export_statement declaration: (interface_declaration name: (type_identifier) @name) @definition.interface))
((comment) @doc . (export_statement declaration: (abstract_class_declaration name: (type_identifier) @name) @definition.class))
((comment) @doc . (export_statement declaration: (type_alias_declaration name: (type_identifier) @name) @definition.type))
((comment) @doc . (export_statement declaration: (enum_declaration name: (identifier) @name) @definition.enum))
(function_signature name: (identifier) @name) @definition.function
((comment)? @doc . (method_signature name: (_) @name) @definition.method)
((comment)? @doc . (abstract_method_signature name: (_) @name) @definition.method)
(internal_module name: (_) @name) @definition.module
((comment)? @doc . (public_field_definition name: (property_identifier) @name value: [(arrow_function) (function_expression)]) @definition.method)

; inheritance (class Foo extends Bar implements Baz; interface A extends B)
(extends_clause value: [(identifier) (member_expression)] @name) @reference.inherit
(implements_clause [(type_identifier) (nested_type_identifier)] @name) @reference.inherit
(implements_clause (generic_type name: [(type_identifier) (nested_type_identifier)] @name)) @reference.inherit
(extends_type_clause type: [(type_identifier) (nested_type_identifier)] @name) @reference.inherit
(extends_type_clause type: (generic_type name: [(type_identifier) (nested_type_identifier)] @name)) @reference.inherit

; type uses: every type name (the names of definitions are left out by the indexer),
; wherever it appears: annotations, type arguments, unions, arrays, constraints, aliases
(type_identifier) @name @reference.type
(nested_type_identifier module: (_) @scope name: (type_identifier) @name) @reference.type
