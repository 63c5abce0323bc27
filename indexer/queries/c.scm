; repoqa tag queries for C. Captures as in python.scm.

((comment)* @doc . (function_definition declarator: [
   (function_declarator declarator: (identifier) @name)
   (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))
   (pointer_declarator declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name)))]) @definition.function)
((comment)* @doc . (declaration declarator: (function_declarator declarator: (identifier) @name)) @definition.prototype)
((comment)* @doc . (struct_specifier name: (type_identifier) @name body: (_)) @definition.struct)
((comment)* @doc . (union_specifier name: (type_identifier) @name body: (_)) @definition.struct)
((comment)* @doc . (enum_specifier name: (type_identifier) @name body: (_)) @definition.enum)
((comment)* @doc . (type_definition declarator: (type_identifier) @name) @definition.type)
(preproc_function_def name: (identifier) @name) @definition.macro
(preproc_def name: (identifier) @name) @definition.macro

; calls
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression argument: (_) @scope field: (field_identifier) @name)) @reference.call

; includes
(preproc_include path: (string_literal (string_content) @module)) @reference.import
(preproc_include path: (system_lib_string) @module) @reference.import

; type uses
(type_identifier) @name @reference.type
