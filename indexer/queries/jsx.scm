; repoqa tag queries for JSX (JavaScript and TSX): a capitalised element is a component used.

((jsx_opening_element name: (identifier) @name) @reference.call (#match? @name "^[A-Z]"))
((jsx_self_closing_element name: (identifier) @name) @reference.call (#match? @name "^[A-Z]"))
(jsx_opening_element name: (member_expression object: (_) @scope property: (property_identifier) @name)) @reference.call
(jsx_self_closing_element name: (member_expression object: (_) @scope property: (property_identifier) @name)) @reference.call
