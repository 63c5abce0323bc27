; repoqa tag queries for C++ (self-contained: the C grammar is a different one).
; @scope on a definition is the class or namespace of an out-of-line member (Foo::bar).

((comment)* @doc . (function_definition declarator: [
   (function_declarator declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name)
   (pointer_declarator declarator: (function_declarator declarator: [(identifier) (field_identifier)] @name))
   (reference_declarator (function_declarator declarator: [(identifier) (field_identifier)] @name))]) @definition.function)
((comment)* @doc . (function_definition declarator: [
   (function_declarator declarator: (qualified_identifier scope: (_) @scope name: [(identifier) (destructor_name) (operator_name)] @name))
   (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier scope: (_) @scope name: (identifier) @name)))
   (reference_declarator (function_declarator declarator: (qualified_identifier scope: (_) @scope name: (identifier) @name)))]) @definition.method)
; ns::Foo::bar: @scope is the innermost qualifier (Foo)
((comment)* @doc . (function_definition declarator: [
   (function_declarator declarator: (qualified_identifier name: (qualified_identifier scope: (_) @scope name: [(identifier) (destructor_name) (operator_name)] @name)))
   (function_declarator declarator: (qualified_identifier name: (qualified_identifier name: (qualified_identifier scope: (_) @scope name: [(identifier) (destructor_name) (operator_name)] @name))))
   (pointer_declarator declarator: (function_declarator declarator: (qualified_identifier name: (qualified_identifier scope: (_) @scope name: (identifier) @name))))
   (reference_declarator (function_declarator declarator: (qualified_identifier name: (qualified_identifier scope: (_) @scope name: (identifier) @name))))]) @definition.method)
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @definition.method
((comment)* @doc . (declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.prototype)
((comment)* @doc . (class_specifier name: (type_identifier) @name body: (_)) @definition.class)
((comment)* @doc . (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
((comment)* @doc . (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
((comment)* @doc . (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
((comment)* @doc . (type_definition declarator: (type_identifier) @name) @definition.type)
(alias_declaration name: (type_identifier) @name) @definition.type
(namespace_definition name: (_) @name) @definition.namespace
(preproc_function_def name: (identifier) @name) @definition.macro
(preproc_def name: (identifier) @name) @definition.macro

; calls
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (qualified_identifier scope: (_) @scope name: (identifier) @name)) @reference.call
(call_expression function: (field_expression argument: (_) @scope field: (field_identifier) @name)) @reference.call
(call_expression function: (template_function name: (identifier) @name)) @reference.call
(call_expression function: (qualified_identifier scope: (_) @scope name: (template_function name: (identifier) @name))) @reference.call
(new_expression type: (type_identifier) @name) @reference.call

; includes
(preproc_include path: (string_literal (string_content) @module)) @reference.import
(preproc_include path: (system_lib_string) @module) @reference.import
(using_declaration (qualified_identifier) @name) @reference.import
(namespace_alias_definition name: (_) @alias (_) @name .) @reference.import

; inheritance
(base_class_clause [(type_identifier) (qualified_identifier) (template_type)] @name) @reference.inherit

; type uses
(type_identifier) @name @reference.type
(qualified_identifier scope: (_) @scope name: [(type_identifier) @name (template_type name: (type_identifier) @name)]) @reference.type
