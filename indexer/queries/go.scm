; repoqa tag queries for Go. Captures as in python.scm; @scope on a definition is
; the receiver type that qualifies a method (func (s *Server) Run() is Server.Run).

((comment)* @doc . (function_declaration name: (identifier) @name) @definition.function)
((comment)* @doc . (method_declaration
  receiver: (parameter_list (parameter_declaration type: [
    (type_identifier) @scope
    (pointer_type (type_identifier) @scope)
    (generic_type type: (type_identifier) @scope)
    (pointer_type (generic_type type: (type_identifier) @scope))]))
  name: (field_identifier) @name) @definition.method)
((comment)* @doc . (type_declaration (type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct))
((comment)* @doc . (type_declaration (type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface))
((comment)* @doc . (type_declaration (type_spec name: (type_identifier) @name type: [(type_identifier) (qualified_type) (function_type) (map_type) (slice_type) (pointer_type) (generic_type) (channel_type) (array_type)]) @definition.type))
((comment)* @doc . (type_declaration (type_alias name: (type_identifier) @name) @definition.type))
(source_file (const_declaration (const_spec name: (identifier) @name) @definition.constant))
(source_file (var_declaration (var_spec name: (identifier) @name) @definition.variable))
(interface_type (method_elem name: (field_identifier) @name) @definition.method)
(package_clause (package_identifier) @name) @definition.package

; calls
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (selector_expression operand: (_) @scope field: (field_identifier) @name)) @reference.call
(composite_literal type: (type_identifier) @name) @reference.call
(composite_literal type: (qualified_type package: (package_identifier) @scope name: (type_identifier) @name)) @reference.call

; imports
(import_spec name: (_)? @alias path: (interpreted_string_literal (interpreted_string_literal_content) @module)) @reference.import

; embedding is Go's inheritance
(field_declaration !name type: [(type_identifier) @name (pointer_type (type_identifier) @name) (qualified_type) @name]) @reference.inherit
(interface_type (type_elem [(type_identifier) (qualified_type)] @name)) @reference.inherit

; type uses
(type_identifier) @name @reference.type
(qualified_type package: (package_identifier) @scope name: (type_identifier) @name) @reference.type
