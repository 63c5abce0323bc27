; repoqa tag queries for JavaScript only, on top of ecmascript.scm.

(field_definition property: (property_identifier) @name value: [(arrow_function) (function_expression)]) @definition.method

; inheritance (TypeScript wraps this in extends_clause)
(class_heritage [(identifier) (member_expression)] @name) @reference.inherit
