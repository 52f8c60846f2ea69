select
    c.customer_id,
    c.name,
    c.country,
    count(o.order_id) as orders,
    coalesce(round(sum(o.amount), 2), 0) as revenue,
    max(o.placed_at) as last_order_at
from {{ source('shop', 'customers') }} c
left join {{ ref('stg_orders') }} o on o.customer_id = c.customer_id and o.status <> 'refunded'
group by 1, 2, 3
