{{ config(materialized='incremental', incremental_strategy='merge', unique_key='order_id') }}
select order_id, customer_id, order_date, status from {{ ref('stg_orders') }}
