{{ config(materialized='incremental', incremental_strategy='replace_where', incremental_predicates="order_id >= 4") }}
select order_id, status from {{ ref('stg_orders') }} {% if is_incremental() %} where order_id >= 4 {% endif %}
