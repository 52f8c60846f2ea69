select order_id, customer_id, amount, status, placed_at, cast(placed_at as date) as order_date
from {{ source('shop', 'orders') }}
