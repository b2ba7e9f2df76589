package com.acme.orders.rest;

import java.math.BigDecimal;
import java.util.List;

import javax.inject.Inject;
import javax.ws.rs.GET;
import javax.ws.rs.Path;
import javax.ws.rs.Produces;
import javax.ws.rs.core.MediaType;

import com.acme.orders.model.Order;
import com.acme.orders.service.OrderService;

@Path("/orders")
@Produces(MediaType.APPLICATION_JSON)
public class OrderResource {

    @Inject
    OrderService orders;

    @GET
    public List<Order> open() {
        return orders.openOrders();
    }

    @GET
    @Path("/revenue")
    public BigDecimal revenue() {
        return orders.revenue();
    }
}
