; repoqa tag queries for Rust. Captures as in python.scm; an impl block is a
; definition of kind impl named by its type, so its functions become Type.method.

((line_comment)* @doc . (attribute_item)* . (struct_item name: (type_identifier) @name) @definition.struct)
((line_comment)* @doc . (attribute_item)* . (enum_item name: (type_identifier) @name) @definition.enum)
((line_comment)* @doc . (attribute_item)* . (union_item name: (type_identifier) @name) @definition.struct)
((line_comment)* @doc . (attribute_item)* . (type_item name: (type_identifier) @name) @definition.type)
((line_comment)* @doc . (attribute_item)* . (trait_item name: (type_identifier) @name) @definition.trait)
((line_comment)* @doc . (attribute_item)* . (function_item name: (identifier) @name) @definition.function)
(function_signature_item name: (identifier) @name) @definition.function
((line_comment)* @doc . (attribute_item)* . (mod_item name: (identifier) @name) @definition.module)
((line_comment)* @doc . (attribute_item)* . (macro_definition name: (identifier) @name) @definition.macro)
((line_comment)* @doc . (attribute_item)* . (const_item name: (identifier) @name) @definition.constant)
((line_comment)* @doc . (attribute_item)* . (static_item name: (identifier) @name) @definition.variable)
(impl_item type: [(type_identifier) @name (generic_type type: (type_identifier) @name) (scoped_type_identifier name: (type_identifier) @name)]) @definition.impl

; calls
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (scoped_identifier path: (_) @scope name: (identifier) @name)) @reference.call
(call_expression function: (field_expression value: (_) @scope field: (field_identifier) @name)) @reference.call
(call_expression function: (generic_function function: (identifier) @name)) @reference.call
(call_expression function: (generic_function function: (scoped_identifier path: (_) @scope name: (identifier) @name))) @reference.call
(call_expression function: (generic_function function: (field_expression value: (_) @scope field: (field_identifier) @name))) @reference.call
(macro_invocation macro: (identifier) @name) @reference.call
(macro_invocation macro: (scoped_identifier path: (_) @scope name: (identifier) @name)) @reference.call
(struct_expression name: (type_identifier) @name) @reference.call
(struct_expression name: (scoped_type_identifier path: (_) @scope name: (type_identifier) @name)) @reference.call

; imports: the whole use tree; the indexer expands braces and aliases
(use_declaration argument: (_) @name) @reference.import
(mod_item name: (identifier) @name !body) @reference.import

; a trait implemented for a type, and a trait's supertraits (trait Shape: fmt::Debug)
(impl_item trait: [(type_identifier) @name (scoped_type_identifier) @name (generic_type type: (_) @name)]) @reference.inherit
(trait_item bounds: (trait_bounds [(type_identifier) @name (scoped_type_identifier) @name (generic_type type: (_) @name)])) @reference.inherit

; type uses (`_` in Vec<_> is the inferred type, not a name)
((type_identifier) @name @reference.type (#not-eq? @name "_"))
(scoped_type_identifier path: (_) @scope name: (type_identifier) @name) @reference.type
