; repoqa tag queries for Java. Captures as in python.scm.

((block_comment)? @doc . (class_declaration name: (identifier) @name) @definition.class)
((block_comment)? @doc . (interface_declaration name: (identifier) @name) @definition.interface)
((block_comment)? @doc . (enum_declaration name: (identifier) @name) @definition.enum)
((block_comment)? @doc . (record_declaration name: (identifier) @name) @definition.class)
((block_comment)? @doc . (annotation_type_declaration name: (identifier) @name) @definition.interface)
((block_comment)? @doc . (method_declaration name: (identifier) @name) @definition.method)
((block_comment)? @doc . (constructor_declaration name: (identifier) @name) @definition.constructor)
(field_declaration declarator: (variable_declarator name: (identifier) @name)) @definition.field
(package_declaration [(identifier) (scoped_identifier)] @name) @definition.package

; calls
(method_invocation !object name: (identifier) @name) @reference.call
(method_invocation object: (_) @scope name: (identifier) @name) @reference.call
(object_creation_expression type: [(type_identifier) @name (generic_type (type_identifier) @name) (scoped_type_identifier) @name]) @reference.call
; method references (Account::getBalance, this::check) name a method without calling it here
(method_reference . (_) @scope . (identifier) @name) @reference.call

; imports
(import_declaration [(identifier) (scoped_identifier)] @name) @reference.import

; inheritance
(superclass [(type_identifier) @name (generic_type (type_identifier) @name) (scoped_type_identifier) @name]) @reference.inherit
(super_interfaces (type_list [(type_identifier) @name (generic_type (type_identifier) @name) (scoped_type_identifier) @name])) @reference.inherit
(extends_interfaces (type_list [(type_identifier) @name (generic_type (type_identifier) @name) (scoped_type_identifier) @name])) @reference.inherit

; type uses
(type_identifier) @name @reference.type
