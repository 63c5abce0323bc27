; repoqa tag queries shared by JavaScript, TypeScript and TSX.
; Captures as in python.scm.

((comment)? @doc . (function_declaration name: (identifier) @name) @definition.function)
((comment)? @doc . (generator_function_declaration name: (identifier) @name) @definition.function)
((comment)? @doc . (class_declaration name: (_) @name) @definition.class)
((comment)? @doc . (method_definition name: (_) @name) @definition.method)
((comment)? @doc . (lexical_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression) (class)]) @definition.function))
((comment)? @doc . (variable_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression) (class)]) @definition.function))
; `export` wraps a declaration: its doc comment precedes the export_statement
((comment) @doc . (export_statement declaration: (function_declaration name: (identifier) @name) @definition.function))
((comment) @doc . (export_statement declaration: (generator_function_declaration name: (identifier) @name) @definition.function))
((comment) @doc . (export_statement declaration: (class_declaration name: (_) @name) @definition.class))
((comment) @doc . (export_statement declaration: (lexical_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression) (class)]) @definition.function)))
(program (lexical_declaration (variable_declarator name: (identifier) @name value: [(string) (number) (object) (array) (template_string) (call_expression) (new_expression) (member_expression) (identifier) (true) (false)]) @definition.variable))
(program (export_statement declaration: (lexical_declaration (variable_declarator name: (identifier) @name value: [(string) (number) (object) (array) (template_string) (call_expression) (new_expression) (member_expression) (identifier) (true) (false)]) @definition.variable)))
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function_expression)]) @definition.function
(pair key: (property_identifier) @name value: [(arrow_function) (function_expression)]) @definition.function

; calls
((call_expression function: (identifier) @name) @reference.call (#not-eq? @name "require"))
(call_expression function: (member_expression object: (_) @scope property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.call
(new_expression constructor: (member_expression object: (_) @scope property: (property_identifier) @name)) @reference.call

; imports and re-exports
(import_statement (import_clause (identifier) @alias) source: (string (string_fragment) @module)) @reference.import
(import_statement (import_clause (namespace_import (identifier) @alias)) source: (string (string_fragment) @module)) @reference.import
(import_statement (import_clause (named_imports (import_specifier name: (_) @name alias: (_)? @alias))) source: (string (string_fragment) @module)) @reference.import
(import_statement . source: (string (string_fragment) @module)) @reference.import
(export_statement (export_clause (export_specifier name: (_) @name alias: (_)? @alias)) source: (string (string_fragment) @module)) @reference.import
(export_statement . "*" source: (string (string_fragment) @module)) @reference.import
((call_expression function: (identifier) @_req arguments: (arguments . (string (string_fragment) @module))) @reference.import (#eq? @_req "require"))
