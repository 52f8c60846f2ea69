{{ config(materialized='incremental', incremental_strategy='merge', unique_key='order_id') }}
-- the latest status of every order: a second run MERGEs changed statuses and new orders
select order_id, status, amount, placed_at from {{ ref('stg_orders') }}
